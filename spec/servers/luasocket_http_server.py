#!/usr/bin/env python3
"""HTTP/1.1 server for the LuaSocket specs (spec/luasocket_http_spec.lua,
spec/luasocket_concurrency_spec.lua): Python's http.server, one thread per
connection, a listen backlog of 256 (http.server's default of 5 would drop
the SYNs of 50 clients connecting at once and add seconds of retries).
Listens on 127.0.0.1 on an ephemeral port, prints "PORT <n>" when ready.
Every run is bounded: it exits after LIMIT seconds (default 170).

Routes:
  /echo                  "METHOD m", "PATH p", "H name: value" for each header
                         (lower-case names, sorted), "BODY n", a blank
                         line, then the body (Content-Length or chunked)
  /redirect?to=URL&code=N  a redirect (default 302) to URL
  /hops?n=N              302 to /hops?n=N-1 until n=0: 200 "arrived"
  /sleep?s=S             sleeps S seconds, answers "slept"; counts requests
                         in flight (the highest count is kept)
  /stats                 "max_in_flight N total M" for /sleep, then resets them
  /barrier?n=N&limit=S   holds every request until N of them are waiting (or
                         S seconds, default 10, pass), then answers "together
                         N" (or "alone K" on the time limit); one batch at a time
  /status?code=N         that status with a short body
  /big?n=N               N bytes of a repeating pattern, Content-Length
"""
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

lock = threading.Lock()
state = {"in_flight": 0, "max": 0, "total": 0}
barrier = threading.Condition()
waiting = {"n": 0, "released": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def route(self):
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        p = u.path
        if p == "/echo":
            body = self.read_body()
            lines = ["METHOD " + self.command, "PATH " + self.path]
            # sorted: socket.http sends a Lua table's headers in pairs()
            # order, which changes from run to run
            for k, v in sorted((k.lower(), v) for k, v in self.headers.items()):
                lines.append("H %s: %s" % (k, v))
            lines.append("BODY %d" % len(body))
            self.reply(200, ("\n".join(lines) + "\n\n").encode() + body,
                       [("Content-Type", "text/plain")])
        elif p == "/redirect":
            self.read_body()
            self.reply(int(q.get("code", "302")), "moved", [("Location", q["to"])])
        elif p == "/hops":
            n = int(q.get("n", "0"))
            if n <= 0:
                self.reply(200, "arrived")
            else:
                self.reply(302, "hop", [("Location", "/hops?n=%d" % (n - 1))])
        elif p == "/sleep":
            with lock:
                state["in_flight"] += 1
                state["total"] += 1
                state["max"] = max(state["max"], state["in_flight"])
            try:
                time.sleep(float(q.get("s", "0.2")))
            finally:
                with lock:
                    state["in_flight"] -= 1
            self.reply(200, "slept")
        elif p == "/barrier":
            n = int(q.get("n", "2"))
            limit = float(q.get("limit", "10"))
            with barrier:
                waiting["n"] += 1
                if waiting["n"] >= n:
                    waiting["released"] = waiting["n"]
                    barrier.notify_all()
                else:
                    barrier.wait_for(lambda: waiting["released"] > 0, timeout=limit)
                if waiting["released"]:
                    body = "together %d" % waiting["released"]
                else:
                    body = "alone %d" % waiting["n"]
                waiting["n"] -= 1
                if waiting["n"] == 0:
                    waiting["released"] = 0
            self.reply(200, body)
        elif p == "/stats":
            with lock:
                body = "max_in_flight %d total %d" % (state["max"], state["total"])
                state["max"] = 0
                state["total"] = 0
            self.reply(200, body)
        elif p == "/status":
            self.reply(int(q.get("code", "200")), "status " + q.get("code", "200"))
        elif p == "/big":
            n = int(q.get("n", "0"))
            pattern = b"0123456789abcdef"
            self.reply(200, (pattern * (n // 16 + 1))[:n])
        else:
            self.reply(404, "not found")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = route


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    limit = float(os.environ.get("LIMIT", "170"))
    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Timer(limit, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
