/*
** fdwait.h: green waits on any file descriptor (green.hub.wait and the
** host's own users: the green socket.core). One uv_poll_t per fd that
** someone waits on, kept in a registry keyed by fd, closed as soon as
** nobody waits (so an fd closed behind our back never leaves a stale
** watcher in the loop). At most one waiting thread per direction per fd.
*/
#ifndef GL_FDWAIT_H
#define GL_FDWAIT_H

#include <lua.h>
#include <uv.h>
#include "core/hub.h"

/* Block the running green thread until 'fd' is ready for 'events'
** (UV_READABLE | UV_WRITABLE), 'seconds' pass (< 0: no limit), or the fd is
** forgotten (gl_fd_forget). 'what' names the caller in errors. Always
** yields (return its result); resumes in 'k' (ctx 0) with, on top of the
** stack the caller left: the ready events as an integer (a subset of
** 'events', never 0), or nil, "timeout", or nil, "closed". Raises "<what>:
** another green thread is waiting to read fd N" (or write) when a thread
** already waits in that direction, and "<what>: fd N is watched by the host
** already" when libuv watches the fd itself (the console's stdin, a
** green.net socket). Interrupted (kill, Timeout), it leaves no trace. */
int gl_fd_wait(lua_State *L, int fd, int events, double seconds, const char *what,
               lua_KFunction k);

/* Waiting on many fds at once (socket.select): a set, made as a userdata
** on top of the stack (keep it there, anchored, until the wait is over),
** with room for 'n' items; fill item[0..n) and set 'n'. gl_fd_wait_set
** blocks until any item is ready or 'seconds' pass, and resumes in k with
** 1 (something is ready: the caller finds out what with poll()) or nil,
** "timeout". The same fd may appear twice (read and write). An item whose
** fd cannot be polled (closed) is left out: the caller's poll() sees it.
** Raises as gl_fd_wait for a direction another thread waits in. */
typedef struct gl_fdset {
  gl_waitq q;
  struct gl_thread *t;
  int n, cap;
  struct { int fd, events; } item[];
} gl_fdset;
gl_fdset *gl_fd_newset(lua_State *L, int n);
int gl_fd_wait_set(lua_State *L, gl_fdset *set, double seconds, const char *what,
                   lua_KFunction k);

/* Is a green thread waiting on 'fd' for any of 'events'? */
int gl_fd_busy(int fd, int events);

/* Before the host closes an fd it owns: waiters resume with nil, "closed"
** and the poll handle goes. Allocates nothing (callable anywhere). */
void gl_fd_forget(lua_State *L, int fd);

/* Lua: green.core's fd_wait(fd, mode, timeout) for lib/green/hub.lua. */
void gl_open_fdwait(lua_State *L);

#endif
