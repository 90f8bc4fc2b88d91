#!/usr/bin/env python3
"""HTTP/1.1 fixture server for spec/http_client_spec.lua (and the TLS one).

Python's own http.server (BaseHTTPRequestHandler, HTTP/1.1, one thread per
connection) with routes that misbehave on purpose. It listens on 127.0.0.1
on an ephemeral port and prints "PORT <n>" once it accepts connections.

usage: http_fixture.py [--cert CERT --key KEY]   (TLS when given)

Every response carries X-Conn (this connection's serial number, from 1) and
X-Req (the request's number on its connection, from 1), so a client can
tell a reused connection from a new one. Routes (query strings select):
  /hello                    200, "hello", Content-Length
  /echo                     the request as text: "METHOD m", "TARGET t",
                            "FRAMING chunked|length|none", "CHUNKS sizes"
                            (chunked uploads), "H name: value" per header
                            (lower-case names, arrival order), "BODY n",
                            a blank line, then the decoded body
  /chunked?parts=a,b,c      a chunked response, one chunk per part
  /redirect?code=302&to=URL a redirect to URL (absolute or relative)
  /truncated                Content-Length 100, 10 bytes sent, closed
  /truncated_chunked        a chunk cut short, closed
  /malformed                a status line that is not HTTP, closed
  /bad_length               two different Content-Length headers
  /slow_head?delay=S        sleeps S seconds before the head
  /trickle?n=N&every=S      Content-Length N, one byte every S seconds
  /close                    200 with Connection: close, then closes
  /http10                   an HTTP/1.0 response without a length (close-delimited)
  /status?code=N            that status, empty body (no body for 204/304)
  /headers_repeat           Set-Cookie twice, X-Dup twice
  /big_head?n=N             a header of N bytes
  /drop_next                200; the next request on this connection is
                            read and the connection closed unanswered
  /sleep?delay=S            sleeps S seconds, then 200 (overlapping requests)
  /open                     the number of connections open now, as text
  /interim                  a 100 Continue, then 200
  /hops?n=N                 redirects (302) to /hops?n=N-1; n=0: 200 "arrived"
  /then_close               200 without Connection: close, then the server
                            shuts the connection (a keep-alive connection
                            that dies in the client's pool)
"""
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

lock = threading.Lock()
counters = {"conn": 0, "open": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with lock:
            counters["conn"] += 1
            counters["open"] += 1
            self.conn_id = counters["conn"]
        self.req_no = 0
        self.drop_next = False

    def finish(self):
        try:
            super().finish()
        finally:
            with lock:
                counters["open"] -= 1

    def raw(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def reply(self, code, body=b"", headers=(), length=True):
        self.send_response(code)
        self.send_header("X-Conn", str(self.conn_id))
        self.send_header("X-Req", str(self.req_no))
        for name, value in headers:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def read_body(self):
        te = self.headers.get("Transfer-Encoding")
        if te and te.lower() == "chunked":
            data, sizes = [], []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip(), 16)
                sizes.append(size)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(data), "chunked", sizes
        n = self.headers.get("Content-Length")
        if n is not None:
            return self.rfile.read(int(n)), "length", None
        return b"", "none", None

    def handle_any(self):
        self.req_no += 1
        if self.drop_next:
            self.read_body()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        route = getattr(self, "r_" + url.path.strip("/"), None)
        if route is None:
            body, _, _ = self.read_body()
            self.reply(404, b"no such route\n")
            return
        route(q)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = handle_any

    # ------------------------------------------------------------ routes

    def r_hello(self, q):
        self.read_body()
        self.reply(200, b"hello", [("Content-Type", "text/plain")])

    def r_echo(self, q):
        body, framing, sizes = self.read_body()
        lines = ["METHOD " + self.command, "TARGET " + self.path, "FRAMING " + framing]
        if sizes is not None:
            lines.append("CHUNKS " + ",".join(str(s) for s in sizes))
        for name, value in self.headers.items():
            lines.append("H %s: %s" % (name.lower(), value))
        lines.append("BODY %d" % len(body))
        self.reply(200, ("\n".join(lines) + "\n\n").encode("latin-1") + body)

    def r_chunked(self, q):
        self.read_body()
        parts = q.get("parts", "a,b,c").split(",")
        self.send_response(200)
        self.send_header("X-Conn", str(self.conn_id))
        self.send_header("X-Req", str(self.req_no))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for p in parts:
            if p:
                self.raw(b"%x\r\n%s\r\n" % (len(p), p.encode()))
        self.raw(b"0\r\n\r\n")

    def r_redirect(self, q):
        self.read_body()
        self.reply(int(q.get("code", "302")), b"moved\n", [("Location", q.get("to", "/hello"))])

    def r_truncated(self, q):
        self.read_body()
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        self.close_connection = True

    def r_truncated_chunked(self, q):
        self.read_body()
        self.raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly six")
        self.close_connection = True

    def r_malformed(self, q):
        self.read_body()
        self.raw(b"HTPP/1.1 two hundred\r\n\r\n")
        self.close_connection = True

    def r_bad_length(self, q):
        self.read_body()
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        self.close_connection = True

    def r_slow_head(self, q):
        self.read_body()
        time.sleep(float(q.get("delay", "2")))
        self.reply(200, b"late")

    def r_trickle(self, q):
        self.read_body()
        n, every = int(q.get("n", "20")), float(q.get("every", "0.2"))
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        self.wfile.flush()
        for _ in range(n):
            time.sleep(every)
            self.raw(b"x")

    def r_close(self, q):
        self.read_body()
        self.reply(200, b"bye", [("Connection", "close")])
        self.close_connection = True

    def r_http10(self, q):
        self.read_body()
        self.raw(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        self.close_connection = True

    def r_status(self, q):
        self.read_body()
        code = int(q.get("code", "200"))
        self.reply(code, b"", length=code not in (204, 304))

    def r_headers_repeat(self, q):
        self.read_body()
        self.reply(200, b"ok", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                ("X-Dup", "one"), ("X-Dup", "two")])

    def r_big_head(self, q):
        self.read_body()
        self.reply(200, b"ok", [("X-Big", "y" * int(q.get("n", "100000")))])

    def r_drop_next(self, q):
        self.read_body()
        self.reply(200, b"once")
        self.drop_next = True

    def r_sleep(self, q):
        self.read_body()
        time.sleep(float(q.get("delay", "0.3")))
        self.reply(200, b"slept")

    def r_open(self, q):
        self.read_body()
        with lock:
            n = counters["open"]
        self.reply(200, str(n).encode())

    def r_interim(self, q):
        self.read_body()
        self.raw(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.reply(200, b"after interim")

    def r_hops(self, q):
        self.read_body()
        n = int(q.get("n", "0"))
        if n <= 0:
            self.reply(200, b"arrived")
        else:
            self.reply(302, b"hop\n", [("Location", "/hops?n=%d" % (n - 1))])

    def r_then_close(self, q):
        self.read_body()
        self.reply(200, b"then close")
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's 5 drops bursts of connects


def main():
    args = sys.argv[1:]
    cert = key = None
    while args:
        flag = args.pop(0)
        if flag == "--cert":
            cert = args.pop(0)
        elif flag == "--key":
            key = args.pop(0)
    server = Server(("127.0.0.1", 0), Handler)
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        # handshake in the connection's thread, not in the accept loop
        base_setup = Handler.setup

        def tls_setup(self):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
            base_setup(self)
        Handler.setup = tls_setup
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
