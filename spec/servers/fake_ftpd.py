#!/usr/bin/env python3
"""A small fake FTP server for spec/luasocket_modules_spec.lua: just what
LuaSocket 3.1.0's socket.ftp uses (passive mode: EPSV and PASV; active
PORT is not offered). Listens on 127.0.0.1 on an ephemeral port; prints
"PORT <n>" when ready; one thread per session.

usage: fake_ftpd.py ROOT [--user NAME:PASS]
Commands: USER/PASS (anonymous "ftp" takes any password; --user adds an
account), TYPE A|I, EPSV, PASV, CWD, PWD, RETR, STOR, NLST, DELE, NOOP,
QUIT. Paths are relative to ROOT (no "..": 550). Every command line is
appended to ROOT/../ftp-dialogue.log. Bounded: exits after LIMIT seconds
(default 170).
"""
import argparse
import os
import socket
import socketserver
import threading

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("--user")
ARGS = ap.parse_args()
ROOT = os.path.abspath(ARGS.root)
ACCOUNTS = {"ftp": None, "anonymous": None}
if ARGS.user:
    name, pw = ARGS.user.split(":", 1)
    ACCOUNTS[name] = pw
LOG = os.path.join(os.path.dirname(ROOT), "ftp-dialogue.log")
lock = threading.Lock()


class Session(socketserver.StreamRequestHandler):
    def send(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def resolve(self, arg):
        parts = [p for p in (self.cwd + "/" + arg if not arg.startswith("/") else arg).split("/") if p]
        if ".." in parts:
            return None
        return os.path.join(ROOT, *parts)

    def data_conn(self):
        if not self.pasv:
            self.send("425 use EPSV or PASV first")
            return None
        self.pasv.settimeout(10)
        try:
            conn, _ = self.pasv.accept()
        except OSError:
            self.send("425 no data connection")
            return None
        finally:
            self.pasv.close()
            self.pasv = None
        return conn

    def handle(self):
        self.cwd, self.user, self.logged, self.pasv = "", None, False, None
        self.send("220 fake.ftpd.local ready")
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.rstrip(b"\r\n").decode("latin-1")
            with lock:
                with open(LOG, "a") as f:
                    f.write(line + "\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "USER":
                self.user = arg
                if arg in ACCOUNTS:
                    self.send("331 password please")
                else:
                    self.send("530 unknown user")
            elif verb == "PASS":
                want = ACCOUNTS.get(self.user, "")
                if self.user in ACCOUNTS and (want is None or want == arg):
                    self.logged = True
                    self.send("230 logged in")
                else:
                    self.send("530 login incorrect")
            elif verb == "QUIT":
                self.send("221 bye")
                return
            elif verb == "NOOP":
                self.send("200 ok")
            elif not self.logged:
                self.send("530 log in first")
            elif verb == "TYPE":
                self.send("200 type set to " + arg)
            elif verb in ("EPSV", "PASV"):
                if self.pasv:
                    self.pasv.close()
                self.pasv = socket.socket()
                self.pasv.bind(("127.0.0.1", 0))
                self.pasv.listen(1)
                port = self.pasv.getsockname()[1]
                if verb == "EPSV":
                    self.send("229 Entering Extended Passive Mode (|||%d|)" % port)
                else:
                    self.send("227 Entering Passive Mode (127,0,0,1,%d,%d)" % (port // 256, port % 256))
            elif verb == "PWD":
                self.send('257 "/%s"' % self.cwd)
            elif verb == "CWD":
                p = self.resolve(arg)
                if p and os.path.isdir(p):
                    self.cwd = os.path.relpath(p, ROOT).replace(".", "") if p != ROOT else ""
                    self.send("250 directory changed")
                else:
                    self.send("550 no such directory")
            elif verb == "RETR":
                p = self.resolve(arg)
                if not p or not os.path.isfile(p):
                    self.send("550 no such file")
                    if self.pasv:
                        self.pasv.close()
                        self.pasv = None
                    continue
                self.send("150 opening data connection")
                conn = self.data_conn()
                if conn:
                    with open(p, "rb") as f:
                        conn.sendall(f.read())
                    conn.close()
                    self.send("226 transfer complete")
            elif verb == "STOR":
                p = self.resolve(arg)
                if not p:
                    self.send("553 bad name")
                    continue
                self.send("150 ready to receive")
                conn = self.data_conn()
                if conn:
                    chunks = []
                    while True:
                        b = conn.recv(65536)
                        if not b:
                            break
                        chunks.append(b)
                    conn.close()
                    with open(p, "wb") as f:
                        f.write(b"".join(chunks))
                    self.send("226 stored %d bytes" % sum(map(len, chunks)))
            elif verb == "NLST":
                p = self.resolve(arg or ".")
                if not p or not os.path.isdir(p):
                    self.send("550 no such directory")
                    continue
                self.send("150 here it comes")
                conn = self.data_conn()
                if conn:
                    conn.sendall("".join(n + "\r\n" for n in sorted(os.listdir(p))).encode())
                    conn.close()
                    self.send("226 done")
            elif verb == "DELE":
                p = self.resolve(arg)
                if p and os.path.isfile(p):
                    os.remove(p)
                    self.send("250 deleted")
                else:
                    self.send("550 no such file")
            else:
                self.send("502 not implemented")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    limit = float(os.environ.get("LIMIT", "170"))
    srv = Server(("127.0.0.1", 0), Session)
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Timer(limit, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
