#!/usr/bin/env python3
"""A TCP port on 127.0.0.1 that never answers a connect: a listener with a
backlog of 0 whose accept queue is kept full by connections nobody accepts,
so the kernel drops every further SYN and a connect to it can only time out.
testclnt.lua's connect_timeout aims at 10.0.0.1:81 for that; on machines
where something answers 10.0.0.1 (a transparent proxy) the upstream test
fails under plain lua5.4 already, so the harness points it here instead.
Prints the port, then holds it until stdin closes or LIMIT seconds pass."""
import os, select, socket, sys, time

LIMIT = float(os.environ.get("BLACKHOLE_LIMIT", "600"))
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(0)
port = srv.getsockname()[1]
held = []
for _ in range(4):  # the queue holds backlog + 1; the rest time out
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(0.3)
    try:
        c.connect(("127.0.0.1", port))
        held.append(c)
    except OSError:
        c.close()
        break
print(port, flush=True)
end = time.monotonic() + LIMIT
while time.monotonic() < end:
    r, _, _ = select.select([sys.stdin], [], [], 1.0)
    if r and not sys.stdin.buffer.read1(4096):
        break
