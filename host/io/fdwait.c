/*
** fdwait.c: green waits on any file descriptor (see fdwait.h).
**
** The registry is an array indexed by fd of entries, each owning one
** uv_poll_t while somebody waits on that fd; the entry (and its handle)
** goes as the last waiter leaves, so libuv never keeps a watcher for an fd
** we do not wait on: a C library may close and reopen its fds freely
** between waits. A waiter is recorded as the thread per direction (a thread
** waiting "rw" is both) and sits in the entry's wait list, so the hub's
** timers and interrupts find and remove it as for any other wait.
**
** Resuming: the poll callback wakes each waiter with the events it asked
** for that are ready (an integer), a poll error as every event asked for
** (the retried syscall reports the real error), gl_fd_forget with false
** (read as "closed"). The continuation pops the hub's tag and value and the
** two values gl_fd_wait kept under them (the fd and the caller's k), drops
** the waiter's record (a timeout leaves it there), then calls the caller's k.
**
** Sets (socket.select): one thread recorded on many entries at once, each
** entry pointing at the set (rd_set / wr_set), the thread in the set's own
** wait list. The first ready entry wakes it and drops the set's records
** from every entry (rearming them); the caller then asks poll() what is
** ready. Nothing here allocates in a libuv callback: waking pushes an
** integer or a boolean, closing a handle is uv_close.
**
** The Lua face (green.core.fd_wait & co., green.hub's): fd an integer or
** an object with getfd(); an fd libuv cannot poll (closed, a regular file)
** gives nil, "closed" / nil, the reason, without waiting.
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "io/fdwait.h"

typedef struct fdw {
  uv_poll_t poll;         /* first: the handle is the entry for on_close */
  int fd;
  int armed;              /* the events the poll is started with */
  gl_thread *rd, *wr;     /* the waiting thread per direction, or NULL */
  int rd_ev, wr_ev;       /* ...and what each asked for (a "rw" waiter is both) */
  gl_fdset *rd_set, *wr_set;  /* the waiter's set when it waits on many fds (select) */
  gl_waitq q;             /* the waiters, for the hub */
} fdw;

static fdw **reg;         /* reg[fd], or NULL */
static int nreg;

static fdw *entry(int fd) {
  return fd >= 0 && fd < nreg ? reg[fd] : NULL;
}

static void on_close(uv_handle_t *h) {
  free(h);  /* the poll handle is the first member of its fdw */
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Start the poll for what the waiters want, or drop the entry if none. */
static void rearm(fdw *e) {
  int want = (e->rd ? e->rd_ev : 0) | (e->wr ? e->wr_ev : 0);
  if (want == 0) {
    reg[e->fd] = NULL;
    uv_close((uv_handle_t *)&e->poll, on_close);
    return;
  }
  if (want != e->armed) {
    e->armed = want;
    int err = uv_poll_start(&e->poll, want, on_poll);
    (void)err;  /* cannot fail for a handle that initialised */
  }
}

static void forget_thread(fdw *e, gl_thread *t) {
  if (e->rd == t) e->rd = NULL, e->rd_set = NULL;
  if (e->wr == t) e->wr = NULL, e->wr_set = NULL;
}

/* Drop a set's records from every entry it is in, rearming each but 'skip'
** (the entry whose callback is running: it rearms itself). */
static void set_release(gl_fdset *set, fdw *skip) {
  for (int i = 0; i < set->n; i++) {
    fdw *e = entry(set->item[i].fd);
    if (e == NULL || (e->rd_set != set && e->wr_set != set)) continue;
    forget_thread(e, set->t);
    if (e != skip) rearm(e);
  }
}

static void wake_set(gl_fdset *set, fdw *skip) {
  set_release(set, skip);
  if (set->t->queue != &set->q) return;  /* timed out already */
  lua_pushinteger(gl_H.L, 1);
  gl_wake(gl_H.L, set->t);
}

static void wake_set(gl_fdset *set, fdw *skip);

static void wake(fdw *e, gl_thread *t, int ready) {
  lua_State *L = gl_H.L;
  forget_thread(e, t);
  if (t->queue != &e->q) return;  /* timed out already: its wait_k cleans up */
  if (ready) lua_pushinteger(L, ready);
  else lua_pushboolean(L, 0);    /* closed */
  gl_wake(L, t);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  fdw *e = (fdw *)h;
  gl_thread *rd = e->rd, *wr = e->wr;
  gl_fdset *rs = e->rd_set, *ws = e->wr_set;
  int rd_ev = e->rd_ev, wr_ev = e->wr_ev;
  if (status < 0) events = UV_READABLE | UV_WRITABLE;
  if (rd) {
    int ready = events & (rd == wr ? rd_ev | wr_ev : rd_ev);
    if (ready) {
      if (rs) wake_set(rs, e);
      else wake(e, rd, ready);
    }
  }
  if (wr && wr != rd && (events & wr_ev)) {
    if (ws) wake_set(ws, e);
    else wake(e, wr, events & wr_ev);
  }
  e->armed = -1;  /* restart for the remaining waiters */
  rearm(e);
}

int gl_fd_busy(int fd, int events) {
  fdw *e = entry(fd);
  if (e == NULL) return 0;
  return ((events & UV_READABLE) && e->rd) || ((events & UV_WRITABLE) && e->wr);
}

void gl_fd_forget(lua_State *L, int fd) {
  (void)L;
  fdw *e = entry(fd);
  if (e == NULL) return;
  gl_thread *rd = e->rd, *wr = e->wr;
  gl_fdset *rs = e->rd_set, *ws = e->wr_set;
  if (rs) wake_set(rs, e);  /* select sees the fd ready, then the closed socket */
  else if (rd) wake(e, rd, 0);
  if (ws && ws != rs) wake_set(ws, e);
  else if (wr && wr != rd && !ws) wake(e, wr, 0);
  rearm(e);  /* no waiter left: the entry goes */
}

/* The caller's stack: ... fd k(lightuserdata) tag value. */
static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  const char *tag = lua_touserdata(L, -2);
  int fd = (int)lua_tointeger(L, -4);
  lua_KFunction k;
  void *kp = lua_touserdata(L, -3);
  memcpy(&k, &kp, sizeof k);
  int ready = tag == GL_WOKEN && lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 4);
  gl_thread *t = gl_H.current;
  fdw *e = entry(fd);
  if (e && (e->rd == t || e->wr == t)) {  /* timed out: still recorded */
    forget_thread(e, t);
    rearm(e);
  }
  if (ready) {
    lua_pushinteger(L, ready);
  } else {
    lua_pushnil(L);
    lua_pushstring(L, tag == GL_TIMEDOUT ? "timeout" : "closed");
  }
  return k(L, status, 0);
}

/* Where gl_fd_wait's two values are in a cancel hook: under the tag and
** value, and under the error too when the thread was woken and then
** interrupted before it ran (hub.c's block_k: err GL_WOKEN value). */
static int cancel_base(lua_State *L) {
  return lua_touserdata(L, -2) == GL_WOKEN ? -5 : -4;
}

/* Interrupted: stop waiting (woken and interrupted before it ran: the
** wake already dropped the record). */
static void wait_cancel(lua_State *L) {
  int fd = (int)lua_tointeger(L, cancel_base(L));
  gl_thread *t = gl_H.current;
  fdw *e = entry(fd);
  if (e && (e->rd == t || e->wr == t)) {
    forget_thread(e, t);
    rearm(e);
  }
}

static int grow(int fd) {
  int n = nreg ? nreg : 64;
  while (n <= fd) n *= 2;
  fdw **r = realloc(reg, (size_t)n * sizeof *r);
  if (r == NULL) return -1;
  memset(r + nreg, 0, (size_t)(n - nreg) * sizeof *r);
  reg = r;
  nreg = n;
  return 0;
}

/* The entry for 'fd', made if need be: NULL with *err set (a libuv error). */
static fdw *get_entry(int fd, int *err) {
  fdw *e = entry(fd);
  if (e) return e;
  *err = UV_ENOMEM;
  if (fd >= nreg && grow(fd) != 0) return NULL;
  e = calloc(1, sizeof *e);
  if (e == NULL) return NULL;
  *err = uv_poll_init(gl_H.loop, &e->poll, fd);
  if (*err != 0) {
    free(e);
    return NULL;
  }
  e->fd = fd;
  reg[fd] = e;
  return e;
}

static void check_free(lua_State *L, fdw *e, gl_thread *t, int events, const char *what) {
  if ((events & UV_READABLE) && e->rd && e->rd != t)
    luaL_error(L, "%s: another green thread is waiting to read fd %d", what, e->fd);
  if ((events & UV_WRITABLE) && e->wr && e->wr != t)
    luaL_error(L, "%s: another green thread is waiting to write fd %d", what, e->fd);
}

int gl_fd_wait(lua_State *L, int fd, int events, double seconds, const char *what,
               lua_KFunction k) {
  gl_thread *t = gl_check_block(L, what);
  events &= UV_READABLE | UV_WRITABLE;
  if (fd < 0) return luaL_error(L, "%s: bad file descriptor %d", what, fd);
  if (events == 0) return luaL_error(L, "%s: nothing to wait for", what);
  int err = 0;
  fdw *e = entry(fd);
  if (e) check_free(L, e, NULL, events, what);
  else if ((e = get_entry(fd, &err)) == NULL) {
    if (err == UV_ENOMEM) return luaL_error(L, "not enough memory");
    if (err == UV_EEXIST)
      return luaL_error(L, "%s: fd %d is watched by the host already", what, fd);
    /* not a descriptor one can poll (closed, a regular file): the
    ** caller's k gets nil, the reason, as for a timeout */
    lua_pushnil(L);
    lua_pushstring(L, err == UV_EBADF ? "closed" : uv_strerror(err));
    return k(L, LUA_OK, 0);
  }
  /* Kept under the hub's tag and value for wait_k (room: gl_block's). */
  luaL_checkstack(L, 2, "fd wait");
  lua_pushinteger(L, fd);
  void *kp;
  memcpy(&kp, &k, sizeof kp);
  lua_pushlightuserdata(L, kp);
  if (events & UV_READABLE) { e->rd = t; e->rd_ev = events; e->rd_set = NULL; }
  if (events & UV_WRITABLE) { e->wr = t; e->wr_ev = events; e->wr_set = NULL; }
  rearm(e);
  return gl_block_cancel(L, what, &e->q, seconds, wait_k, wait_cancel);
}

/* ------------------------------------------------------------ sets */

static int set_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  const char *tag = lua_touserdata(L, -2);
  gl_fdset *set = lua_touserdata(L, -4);
  lua_KFunction k;
  void *kp = lua_touserdata(L, -3);
  memcpy(&k, &kp, sizeof k);
  lua_pop(L, 4);
  set_release(set, NULL);  /* timed out: still recorded */
  if (tag == GL_WOKEN) {
    lua_pushinteger(L, 1);
  } else {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
  }
  return k(L, status, 0);
}

static void set_cancel(lua_State *L) {
  set_release(lua_touserdata(L, cancel_base(L)), NULL);
}

gl_fdset *gl_fd_newset(lua_State *L, int n) {
  if (n < 0) n = 0;
  size_t size = sizeof(gl_fdset) + (size_t)n * sizeof(((gl_fdset *)0)->item[0]);
  gl_fdset *set = lua_newuserdatauv(L, size, 0);
  memset(set, 0, size);
  set->cap = n;
  return set;
}

int gl_fd_wait_set(lua_State *L, gl_fdset *set, double seconds, const char *what,
                   lua_KFunction k) {
  gl_thread *t = gl_check_block(L, what);
  set->t = t;
  int armed = 0;
  for (int i = 0; i < set->n; i++) {
    int fd = set->item[i].fd, events = set->item[i].events & (UV_READABLE | UV_WRITABLE);
    if (fd < 0 || events == 0) continue;
    int err = 0;
    fdw *e = entry(fd);
    if (e == NULL) e = get_entry(fd, &err);
    if (e == NULL) {
      if (err == UV_EEXIST || err == UV_ENOMEM) {
        set_release(set, NULL);
        if (err == UV_ENOMEM) return luaL_error(L, "not enough memory");
        return luaL_error(L, "%s: fd %d is watched by the host already", what, fd);
      }
      continue;  /* the caller's poll() reports it */
    }
    if ((events & UV_READABLE) && e->rd && e->rd != t) {
      set_release(set, NULL);
      rearm(e);
      return luaL_error(L, "%s: another green thread is waiting to read fd %d", what, fd);
    }
    if ((events & UV_WRITABLE) && e->wr && e->wr != t) {
      set_release(set, NULL);
      rearm(e);
      return luaL_error(L, "%s: another green thread is waiting to write fd %d", what, fd);
    }
    if (events & UV_READABLE) {
      e->rd_ev = (e->rd == t ? e->rd_ev : 0) | events;
      e->rd = t; e->rd_set = set;
    }
    if (events & UV_WRITABLE) {
      e->wr_ev = (e->wr == t ? e->wr_ev : 0) | events;
      e->wr = t; e->wr_set = set;
    }
    rearm(e);
    armed++;
  }
  (void)armed;
  luaL_checkstack(L, 2, "fd wait");
  lua_pushlightuserdata(L, set);
  void *kp;
  memcpy(&kp, &k, sizeof kp);
  lua_pushlightuserdata(L, kp);
  return gl_block_cancel(L, what, &set->q, seconds, set_k, set_cancel);
}

/* ------------------------------------------------------------------ Lua */

static int mode_events(lua_State *L, int idx, const char *fname) {
  const char *m = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
  if (m && strcmp(m, "r") == 0) return UV_READABLE;
  if (m && strcmp(m, "w") == 0) return UV_WRITABLE;
  if (m && strcmp(m, "rw") == 0) return UV_READABLE | UV_WRITABLE;
  return gl_argerror(L, idx, fname, "mode must be \"r\", \"w\" or \"rw\"");
}

static int l_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_isinteger(L, -1)) {
    int ev = (int)lua_tointeger(L, -1);
    lua_pushstring(L, ev == (UV_READABLE | UV_WRITABLE) ? "rw" : ev == UV_READABLE ? "r" : "w");
    return 1;
  }
  return 2;
}

/* The fd at index 1: an integer, or an object whose getfd() gives one
** (LuaSocket's give floats: -1.0 once closed). */
static int check_fd(lua_State *L, const char *fname) {
  if (lua_type(L, 1) != LUA_TNUMBER) {
    int t = lua_type(L, 1);
    if ((t != LUA_TTABLE && t != LUA_TUSERDATA) || luaL_getmetafield(L, 1, "__index") == LUA_TNIL)
      return gl_typeerror(L, 1, fname, "file descriptor or object with getfd()");
    lua_pop(L, 1);
    lua_getfield(L, 1, "getfd");
    if (!lua_isfunction(L, -1))
      return gl_typeerror(L, 1, fname, "file descriptor or object with getfd()");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    int isint;
    lua_Integer fd = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : (isint = 0);
    if (!isint) return gl_argerror(L, 1, fname, "its getfd() did not give a file descriptor");
    lua_pop(L, 1);
    return fd < 0 || fd > 0x7fffffff ? -1 : (int)fd;
  }
  int isint;
  lua_Integer fd = lua_tointegerx(L, 1, &isint);
  if (!isint) return gl_argerror(L, 1, fname, "number has no integer representation");
  if (fd < 0 || fd > 0x7fffffff) return gl_argerror(L, 1, fname, "bad file descriptor");
  return (int)fd;
}

/* wait(fd, mode, timeout), wait_readable(fd, timeout), wait_writable(fd,
** timeout): upvalue 1 the name, 2 the fixed events (0: mode argument). */
static int l_wait(lua_State *L) {
  const char *fname = lua_tostring(L, lua_upvalueindex(1));
  int events = (int)lua_tointeger(L, lua_upvalueindex(2));
  int targ = 2;
  if (events == 0) {
    events = mode_events(L, 2, fname);
    targ = 3;
  }
  double seconds = lua_isnoneornil(L, targ) ? -1 : gl_check_seconds(L, targ, fname);
  int fd = check_fd(L, fname);
  lua_settop(L, 0);
  if (fd < 0) {  /* a closed LuaSocket object: getfd() = -1 */
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
  }
  return gl_fd_wait(L, fd, events, seconds, fname, l_wait_k);
}

/* core.fd_wait, fd_wait_readable, fd_wait_writable (green.hub's). */
void gl_open_fdwait(lua_State *L) {
  static const struct { const char *field, *name; int events; } fns[] = {
    {"fd_wait", "wait", 0}, {"fd_wait_readable", "wait_readable", UV_READABLE},
    {"fd_wait_writable", "wait_writable", UV_WRITABLE}, {"fd_greenlua_wait", "greenlua_wait", 0},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    lua_pushstring(L, fns[i].name);
    lua_pushinteger(L, fns[i].events);
    lua_pushcclosure(L, l_wait, 2);
    if (fns[i].name[0] == 'g') {  /* for C modules: include/greenlua.h */
      lua_pushvalue(L, -1);
      lua_setfield(L, LUA_REGISTRYINDEX, "greenlua.wait");
    }
    lua_setfield(L, -2, fns[i].field);
  }
}
