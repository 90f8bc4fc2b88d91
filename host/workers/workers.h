/*
** workers.h: `greenlua --workers N script [args]` (master.c) and the
** worker's side of it (worker.c).
**
** The master is plain C, without a Lua state: it starts N worker processes
** running the same command line minus --workers, restarts those that die
** (with back-off), relays TERM/INT/HUP/QUIT as API.md "Serving in
** production" says, and holds every listening socket the workers ask for:
** one SO_REUSEPORT socket per worker slot and per listen address, so a
** connection queued on a socket outlives the worker that was to accept it.
**
** Control protocol, over a SOCK_SEQPACKET socketpair whose worker end is
** the fd in GREENLUA_MASTER_FD (the slot number, 1..N, in GREENLUA_WORKER):
**   worker -> master  "listen <ip> <port> <backlog>"
**   master -> worker  "ok <port>" with the slot's socket (SCM_RIGHTS), or
**                     "err <libuv error code>"
** One request at a time, answered at once: the worker blocks on it.
*/
#ifndef GL_WORKERS_H
#define GL_WORKERS_H

#include <lua.h>

#define GL_WORKERS_MAX 256
#define GL_WORKER_ENV "GREENLUA_WORKER"
#define GL_MASTER_FD_ENV "GREENLUA_MASTER_FD"

/* Run the master: n workers, each exec'ing /proc/self/exe with 'argv'
** (NULL-terminated; argv[0] first). Returns the process's exit status. */
int gl_workers_main(int n, char **argv);

/* In every process, before anything else: if started as a worker, take
** the slot number and control fd from the environment and remove them from
** it (so programs the script starts are not workers), and make the fd
** close-on-exec. */
void gl_worker_init(void);

/* core.worker() -> slot number or nil; core.worker_listen(ip, port,
** backlog) -> listening socket or nil, err (only in a worker). */
void gl_open_worker(lua_State *L);

#endif
