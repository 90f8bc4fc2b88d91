#!/usr/bin/env python3
"""A small fake SMTP server for spec/luasocket_smtp_spec.lua (Python 3.11's
smpd module is deprecated; this is socketserver, one thread per session).
Listens on 127.0.0.1 on an ephemeral port; prints "PORT <n>" when ready.

usage: fake_smtpd.py DIR [--auth USER:PASS] [--delay SECONDS] [--hold N]
(--delay: wait that long before each session's greeting; --hold: greet no
session until N sessions are open at once, then all of them; a session
still waiting after 10 s is answered "421 only K sessions arrived" and
closed)
Speaks enough of RFC 5321 for LuaSocket's socket.smtp: greeting, EHLO/HELO
(advertising AUTH PLAIN LOGIN when --auth is given), AUTH PLAIN and LOGIN,
MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP, QUIT. Every
accepted message is written to DIR/<n>.eml as:
    FROM <addr>
    RCPT <addr>        (one line per recipient)
    AUTH <user>        (when the session authenticated)
    <blank line>
    <the message data, CRLFs as received, dots unstuffed>
Each command received is appended to DIR/dialogue.log ("<session> <line>").
Refusals on purpose: a recipient whose address starts with "reject" gets
550; a sender "<tempfail@...>" gets 451; a message whose data contains the
line "X-Refuse: yes" gets 554 after the final dot.
Bounded: it exits after LIMIT seconds (default 170).
"""
import argparse
import base64
import os
import socketserver
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--auth")
ap.add_argument("--delay", type=float, default=0.0)
ap.add_argument("--hold", type=int, default=0)
ARGS = ap.parse_args()
DIR = ARGS.dir
AUTH = tuple(ARGS.auth.split(":", 1)) if ARGS.auth else None
lock = threading.Lock()
counters = {"session": 0, "message": 0}
hold = threading.Condition()
arrived = {"n": 0, "released": False}


def log(session, line):
    with lock:
        with open(os.path.join(DIR, "dialogue.log"), "a") as f:
            f.write("%d %s\n" % (session, line))


class Session(socketserver.StreamRequestHandler):
    def send(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            return None
        return line.rstrip(b"\r\n").decode("latin-1")

    def handle(self):
        with lock:
            counters["session"] += 1
            sid = counters["session"]
        if ARGS.delay:
            time.sleep(ARGS.delay)
        if ARGS.hold:
            with hold:
                arrived["n"] += 1
                if arrived["n"] >= ARGS.hold:
                    arrived["released"] = True
                    hold.notify_all()
                else:
                    hold.wait_for(lambda: arrived["released"], timeout=10)
                if not arrived["released"]:
                    n = arrived["n"]
                    arrived["n"] -= 1
                    self.send("421 only %d sessions arrived" % n)
                    return
        self.send("220 fake.smtpd.local ESMTP ready")
        mail_from, rcpts, user = None, [], None
        while True:
            line = self.readline()
            if line is None:
                return
            log(sid, line)
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb == "EHLO":
                ext = ["250-fake.smtpd.local greets " + arg, "250-8BITMIME"]
                if AUTH:
                    ext.append("250-AUTH PLAIN LOGIN")
                ext.append("250 HELP")
                for e in ext:
                    self.send(e)
            elif verb == "HELO":
                self.send("250 fake.smtpd.local")
            elif verb == "AUTH":
                user = self.auth(sid, arg)
            elif verb == "MAIL":
                addr = arg[5:].strip() if arg.upper().startswith("FROM:") else ""
                if AUTH and not user:
                    self.send("530 5.7.0 Authentication required")
                elif addr.startswith("<tempfail@"):
                    self.send("451 4.3.0 try again later")
                else:
                    mail_from, rcpts = addr, []
                    self.send("250 2.1.0 sender ok")
            elif verb == "RCPT":
                addr = arg[3:].strip() if arg.upper().startswith("TO:") else ""
                if mail_from is None:
                    self.send("503 5.5.1 MAIL first")
                elif addr.lstrip("<").startswith("reject"):
                    self.send("550 5.1.1 no such user " + addr)
                else:
                    rcpts.append(addr)
                    self.send("250 2.1.5 recipient ok")
            elif verb == "DATA":
                if not rcpts:
                    self.send("503 5.5.1 RCPT first")
                    continue
                self.send("354 end data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    raw = self.rfile.readline(1 << 20)
                    if not raw:
                        return
                    if raw in (b".\r\n", b".\n"):
                        break
                    if raw.startswith(b"."):
                        raw = raw[1:]
                    data.append(raw)
                body = b"".join(data)
                if b"\nX-Refuse: yes\r\n" in b"\n" + body:
                    self.send("554 5.6.0 message refused")
                else:
                    with lock:
                        counters["message"] += 1
                        n = counters["message"]
                    head = "FROM %s\n" % mail_from + "".join("RCPT %s\n" % r for r in rcpts)
                    if user:
                        head += "AUTH %s\n" % user
                    with open(os.path.join(DIR, "%d.eml" % n), "wb") as f:
                        f.write(head.encode() + b"\n" + body)
                    self.send("250 2.0.0 queued as %d" % n)
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.send("250 2.0.0 ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("502 5.5.2 command not recognized")

    def auth(self, sid, arg):
        parts = arg.split(" ")
        mech = parts[0].upper()
        if not AUTH:
            self.send("503 5.5.1 AUTH not advertised")
            return None
        if mech == "PLAIN":
            if len(parts) > 1:
                blob = parts[1]
            else:
                self.send("334 ")
                blob = self.readline() or ""
                log(sid, blob)
            try:
                _, u, p = base64.b64decode(blob).decode().split("\0")
            except Exception:
                self.send("501 5.5.2 bad PLAIN blob")
                return None
        elif mech == "LOGIN":
            self.send("334 " + base64.b64encode(b"Username:").decode())
            u = base64.b64decode(self.readline() or "").decode()
            self.send("334 " + base64.b64encode(b"Password:").decode())
            p = base64.b64decode(self.readline() or "").decode()
            log(sid, "(login %s)" % u)
        else:
            self.send("504 5.5.4 unknown mechanism")
            return None
        if (u, p) == AUTH:
            self.send("235 2.7.0 authenticated")
            return u
        self.send("535 5.7.8 bad credentials")
        return None


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    limit = float(os.environ.get("LIMIT", "170"))
    srv = Server(("127.0.0.1", 0), Session)
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Timer(limit, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
