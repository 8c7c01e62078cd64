"""A camera on loopback for tests: serves one file over HTTP as a live stream (no length, paced).

usage: live_http_camera.py FILE PORT SECONDS -- the whole file is sent over SECONDS, then the
connection closes. Killed (SIGKILL) it drops like a camera losing power.
"""
import http.server
import socketserver
import sys
import time

path, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = open(path, "rb").read()
rate = len(data) / seconds


class Camera(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited: no Content-Length, as a live stream

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()
        start, sent, chunk = time.time(), 0, 188 * 32
        for i in range(0, len(data), chunk):
            self.wfile.write(data[i : i + chunk])
            self.wfile.flush()
            sent += chunk
            wait = start + sent / rate - time.time()
            if wait > 0:
                time.sleep(wait)

    def log_message(self, *args):
        pass


socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
with socketserver.ThreadingTCPServer(("127.0.0.1", port), Camera) as server:
    server.serve_forever()
