"""A webhook receiver on 127.0.0.1:PORT: answers 500 to every POST while the file FAIL exists, and
otherwise 200, after writing the body (one JSON document) as a line to OUT. Runs until killed.

usage: webhook_receiver.py PORT OUT FAIL
"""
import http.server
import os
import sys

port, out, fail = int(sys.argv[1]), sys.argv[2], sys.argv[3]
log = open(out, "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = 500 if os.path.exists(fail) else 200
        if status == 200:
            log.write(body.decode("utf-8", "replace").replace("\n", " ") + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
