#!/usr/bin/env python3
"""Hostile HTTP clients against `batchline serve` on loopback, one per attack; each prints one JSON
line saying what it got. Used by Tests/ServerTests/ServerLimitsTests.swift and bench/hostile.sh.

  hostile_clients.py idle PORT N SECONDS          N silent connections; does /v2/health/live answer?
  hostile_clients.py short-body PORT              a body shorter than its Content-Length: closed?
  hostile_clients.py slow PORT N SECONDS          N clients sending a head (half: a body) a byte at a time
  hostile_clients.py stalled-sse PORT N SECONDS [PID]  N event feed clients that never read; freed?
  hostile_clients.py snapshots PORT STREAM N      N snapshot.jpg requests at once: their statuses
  hostile_clients.py infer PORT MODEL N FRAMES    N JSON infer requests of FRAMES frames at once
  hostile_clients.py oversize PORT PATH BYTES [binary]  a head announcing BYTES, no body: status
  hostile_clients.py host PORT NAME               GET /v2/health/live with Host: NAME: the status

Every wait is bounded (a hang shows as a figure, not as a stuck script)."""

import concurrent.futures
import json
import os
import socket
import sys
import time

HOST = "127.0.0.1"


def connect(port, rcvbuf=None, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((HOST, port))
    return s


def request(port, method, path, body=b"", headers=None, timeout=30):
    """One exchange on a fresh connection: (status, headers, body), or (0, {}, error) when none came.
    No `Connection: close`: a server that refuses a request before reading its body then reads the
    rest of it rather than resetting the connection under the client's feet."""
    try:
        s = connect(port, timeout=timeout)
        headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        head = f"{method} {path} HTTP/1.1\r\n"
        for k, v in headers.items():
            head += f"{k}: {v}\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        s.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode(errors="replace").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(rest) < length:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            rest += chunk
        s.close()
    except OSError as e:
        return 0, {}, str(e).encode()
    if not data:
        return 0, {}, b"closed without an answer"
    return int(lines[0].split()[1]), fields, rest


def is_closed(s):
    """Whether the server closed `s` (EOF or reset once what it sent is drained); never blocks."""
    s.setblocking(False)
    try:
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def health(port, timeout=5):
    return request(port, "GET", "/v2/health/live", timeout=timeout)[0]


def idle(port, n, seconds):
    """N connections that send nothing (half of them half a request head). Health is asked once
    while they are open (waiting up to `seconds`), with how many connections the server evicted
    so far; then, within `seconds` more, how many of the N the server closed."""
    held, refused = [], 0
    evicted_before = metric(port, "batchline_http_connections_closed_total", {"reason": "evicted"})
    for k in range(n):
        try:
            s = connect(port, timeout=2)
            if k % 2:
                s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(s)
        except OSError:
            refused += 1
    # One probe while they are all held: a full server closes the oldest silent one to let it in.
    status = health(port, timeout=seconds)
    evicted = metric(port, "batchline_http_connections_closed_total", {"reason": "evicted"}) - evicted_before
    closed = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        closed = sum(is_closed(s) for s in held)
        if closed == len(held):
            break
        time.sleep(0.5)
    for s in held:
        s.close()
    return {"connections": len(held), "refused": refused, "health": status, "closed_by_server": closed,
            "evicted": evicted}


def short_body(port, seconds=120):
    """A POST whose body stops short of its Content-Length: the server closes it (or answers)."""
    s = connect(port, timeout=seconds)
    s.sendall(
        b"POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{\"id\": \"x\""
    )
    try:
        data = s.recv(1 << 16)
        outcome = "closed" if not data else data.split(b"\r\n")[0].decode(errors="replace")
    except socket.timeout:
        outcome = "still open"
    except OSError:
        outcome = "closed"
    s.close()
    return {"outcome": outcome}


def slow(port, n, seconds, interval=0.5):
    """N connections that send a byte every `interval` seconds (which keeps an idle timer from ever
    firing): half of them a request head, half a head at once and then its body. Within `seconds`:
    how many the server closed, and the slowest close."""
    head = f"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Padding: {'a' * 4096}\r\n\r\n".encode()
    body_head = (f"POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 "Content-Length: 4096\r\n\r\n").encode()
    held = []
    for k in range(n):
        s = connect(port)
        if k % 2:
            s.sendall(body_head)
        held.append([s, head if k % 2 == 0 else b"{" + b" " * 4094 + b"}", 0, None])
    start = time.time()
    while time.time() < start + seconds and any(h[3] is None for h in held):
        for h in held:
            if h[3] is not None:
                continue
            try:
                h[0].send(h[1][h[2]:h[2] + 1])
                h[2] = min(h[2] + 1, len(h[1]) - 1)
            except OSError:
                h[3] = time.time() - start
                continue
            if is_closed(h[0]):
                h[3] = time.time() - start
        time.sleep(interval)
    closed = [h[3] for h in held if h[3] is not None]
    for h in held:
        h[0].close()
    return {"connections": n, "closed_by_server": len(closed),
            "slowest_close_s": round(max(closed), 1) if closed else None, "health": health(port)}


def metric(port, name, labels):
    """The value of one series of GET /metrics (`name{labels}`), 0 when absent."""
    _, _, body = request(port, "GET", "/metrics")
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0


def feed_status(port, timeout=10):
    """A new event feed client: the status of its answer."""
    try:
        s = connect(port, timeout=timeout)
        s.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        line = s.recv(4096).split(b"\r\n")[0]
        s.close()
        return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def sockets(pid):
    """Sockets the process `pid` holds open (-1 without a pid)."""
    if not pid:
        return -1
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def stalled_sse(port, n, seconds, pid=None):
    """N feed clients with a small receive buffer that never read (never: reading would let them
    recover). Within `seconds`: does a new client get in, and, given the server's `pid`, does the
    server close the stalled clients' sockets (back to what it held before they came)?"""
    before = sockets(pid)
    held = []
    for _ in range(n):
        s = connect(port, rcvbuf=4096)
        s.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        held.append(s)
    time.sleep(1)
    during = sockets(pid)
    first = feed_status(port)
    start = time.time()
    deadline = start + seconds
    later = first
    while time.time() < deadline and later != 200:
        time.sleep(1)
        later = feed_status(port)
    admitted_after = round(time.time() - start)
    after = sockets(pid)
    while pid and time.time() < deadline and after > before:
        time.sleep(1)
        after = sockets(pid)
    out = {"stalled": n, "new_client_first": first, "new_client_later": later, "admitted_after_s": admitted_after,
           "server_sockets_before": before, "server_sockets_during": during, "server_sockets_after": after,
           "health": health(port)}
    for s in held:
        s.close()
    return out


def statuses(results):
    counts = {}
    for status, fields, _ in results:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def snapshots(port, stream, n):
    path = f"/api/v1/streams/{stream}/snapshot.jpg"
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda _: request(port, "GET", path, timeout=60), range(n)))
    retry = all(f.get("retry-after") for s, f, _ in results if s == 503)
    return {"requests": n, "statuses": statuses(results), "retry_after_on_503": retry, "health": health(port)}


def infer_body(port, model, frames):
    status, _, body = request(port, "GET", f"/v2/models/{model}")
    meta = json.loads(body)
    tensor = meta["inputs"][0]
    shape = [frames] + [max(d, 1) for d in tensor["shape"][1:]]
    count = 1
    for d in shape[1:]:
        count *= d
    row = ",".join(str((k * 37) % 256) for k in range(count))
    data = "[" + ",".join([row] * frames) + "]"
    return (
        f'{{"inputs": [{{"name": "{tensor["name"]}", "shape": {json.dumps(shape)}, '
        f'"datatype": "{tensor["datatype"]}", "data": {data}}}]}}'
    ).encode()


def infer(port, model, n, frames):
    body = infer_body(port, model, frames)
    path = f"/v2/models/{model}/infer"
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda _: request(port, "POST", path, body, timeout=300), range(n)))
    errors = sorted({json.loads(b).get("error", "")[:120] for s, _, b in results if s not in (0, 200) and b})
    return {"requests": n, "body_mb": round(len(body) / 2**20, 1), "statuses": statuses(results), "errors": errors,
            "health": health(port)}


def oversize(port, path, length, binary):
    """A request head announcing `length` bytes, none sent: the status it gets (the body unread)."""
    extra = "Inference-Header-Content-Length: 100\r\n" if binary else ""
    s = connect(port, timeout=60)
    s.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Length: {length}\r\n\r\n".encode())
    try:
        line = s.recv(4096).split(b"\r\n")[0]
        status = int(line.split()[1]) if line else 0
    except (OSError, IndexError, ValueError):
        status = 0
    s.close()
    return {"length": length, "binary": binary, "status": status}


def host(port, name):
    status, _, body = request(port, "GET", "/v2/health/live", headers={"Host": name})
    return {"host": name, "status": status, "body": body.decode(errors="replace")}


def main(argv):
    kind, port = argv[1], int(argv[2])
    args = argv[3:]
    if kind == "idle":
        out = idle(port, int(args[0]), float(args[1]))
    elif kind == "short-body":
        out = short_body(port)
    elif kind == "slow":
        out = slow(port, int(args[0]), float(args[1]))
    elif kind == "stalled-sse":
        out = stalled_sse(port, int(args[0]), float(args[1]), int(args[2]) if len(args) > 2 else None)
    elif kind == "snapshots":
        out = snapshots(port, args[0], int(args[1]))
    elif kind == "infer":
        out = infer(port, args[0], int(args[1]), int(args[2]))
    elif kind == "oversize":
        out = oversize(port, args[0], int(args[1]), args[2:] == ["binary"])
    elif kind == "host":
        out = host(port, args[0])
    else:
        sys.exit(f"unknown attack {kind}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv)
