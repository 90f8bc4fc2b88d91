-- green.hub: waits on any file descriptor, the trampoline that lets a C
-- library exposing a socket (libpq, hiredis, ...) run green. The wait
-- itself is C (host/io/fdwait.c): wait(fd | obj, mode, timeout) -> "r" |
-- "w" | "rw" (what is ready), or nil, "timeout" / nil, "closed"; an object
-- with getfd() is accepted for fd. A second thread waiting in the same
-- direction on one fd raises; so does an fd libuv watches itself (the
-- console's stdin, a green.net socket). Also registered as "greenlua.wait"
-- in the registry for C modules (include/greenlua.h).
local core = require "green.core"

local hub = {
  wait = core.fd_wait,
  wait_readable = core.fd_wait_readable,
  wait_writable = core.fd_wait_writable,
}


return hub
