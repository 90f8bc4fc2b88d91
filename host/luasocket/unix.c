/*
** unix.c: the green socket.unix, as LuaSocket 3.1.0 ships it: a table
** with stream() and dgram() (and their old names tcp() and udp()) that is
** its own metatable, with __call = stream (the old socket.unix() form).
**
** Contract (the reference is Debian's LuaSocket 3.1.0 under lua5.4):
**  - unixstream{master|client|server} (group unixstream{any}): accept,
**    bind (= setsockname), close, connect (= setpeername), dirty, getfd,
**    getsockname (the path), getstats, setstats, listen, receive, send,
**    setfd, setoption (keepalive, reuseaddr, linger), settimeout,
**    shutdown; as 3.1.0, no gettimeout, getpeername nor getoption.
**  - unixdgram{connected|unconnected} (groups unixdgram{any},
**    select{able}): bind, close, connect, dirty, getfd, getsockname,
**    gettimeout, receive, receivefrom (datagram and the sender's path, ""
**    when it did not bind), send, sendto(data, path), setfd, setoption
**    (reuseaddr), setpeername, setsockname, settimeout.
**  - 3.1.0's results and strings: "path too long" for a path of 108 bytes
**    or more; a bind or connect that fails closes the fd (later calls say
**    "closed"), a connect that times out too; numbers are floats.
**  - Green: accept, connect, send and receive wait with gl_ls_wait within
**    LuaSocket's timeouts; a call that waited runs again from its start,
**    its start time kept in the object. An unconnected sendto that finds
**    the receiver's queue full after its fd polled writable backs off on a
**    timer (poll cannot see another socket's queue; 3.1.0 spins there).
**    setfd as tcp's (gl_ls_setfd): setfd(-1) gives the fd away, another
**    number only if a green socket made it.
*/
#define _GNU_SOURCE  /* accept4 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "core/hub.h"
#include "luasocket/lsock.h"

#define S_MASTER "unixstream{master}"
#define S_CLIENT "unixstream{client}"
#define S_SERVER "unixstream{server}"
#define S_ANY "unixstream{any}"
#define D_CONNECTED "unixdgram{connected}"
#define D_UNCONNECTED "unixdgram{unconnected}"
#define D_ANY "unixdgram{any}"

/* The path at 'arg' as an address; 0, or -1 when it is too long. C's view
** of the string, as 3.1.0 takes it: up to its first zero byte. */
static int make_addr(lua_State *L, int arg, struct sockaddr_un *a, socklen_t *len) {
  const char *path = lua_tostring(L, arg);
  size_t n = strlen(path);
  if (n >= sizeof a->sun_path) return -1;
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  memcpy(a->sun_path, path, n);
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  return 0;
}

/* 3.1.0 closes the fd of a master whose bind or connect failed. */
static int fail_and_close(lua_State *L, gl_lsock *s, const char *err) {
  gl_ls_destroy(L, s);
  return gl_ls_fail(L, err);
}

/* ------------------------------------------------------ shared methods */

static int meth_getfd_any(lua_State *L, const char *group) {
  gl_lsock *s = gl_ls_checkgroup(L, group, 1);
  lua_pushnumber(L, s->fd);
  return 1;
}

static int setfd_any(lua_State *L, const char *group) {
  return gl_ls_setfd(L, gl_ls_checkgroup(L, group, 1));
}

static int getsockname_any(lua_State *L, const char *group) {
  gl_lsock *s = gl_ls_checkgroup(L, group, 1);
  struct sockaddr_un a;
  socklen_t len = sizeof a;
  memset(&a, 0, sizeof a);
  if (getsockname(s->fd, (struct sockaddr *)&a, &len) < 0)
    return gl_ls_fail(L, gl_ls_strerror(errno));
  size_t off = offsetof(struct sockaddr_un, sun_path);
  size_t max = len > off ? len - off : 0;
  if (max > sizeof a.sun_path) max = sizeof a.sun_path;
  lua_pushlstring(L, a.sun_path, strnlen(a.sun_path, max));
  return 1;
}

static int bind_any(lua_State *L, gl_lsock *s) {
  luaL_checkstring(L, 2);
  struct sockaddr_un a;
  socklen_t len;
  if (make_addr(L, 2, &a, &len) < 0) return gl_ls_fail(L, "path too long");
  if (bind(s->fd, (struct sockaddr *)&a, len) < 0)
    return fail_and_close(L, s, gl_ls_strerror(errno));
  return gl_ls_ok(L);
}

/* connect, restartable. Frame: 1 object, 2 path. s->phase: 1 once it has
** waited (a unix connect that said EAGAIN: the listener's backlog was
** full). 'cls' is the class it takes on success. */
static int connect_run(lua_State *L, gl_lsock *s);

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  int r = gl_ls_waited(L);
  if (r == LS_TIMEOUT) return fail_and_close(L, s, gl_ls_strerror(LS_TIMEOUT));
  if (r != LS_DONE) return fail_and_close(L, s, gl_ls_strerror(LS_CLOSED));
  return connect_run(L, s);
}

static int connected(lua_State *L, gl_lsock *s) {
  gl_ls_setclass(L, 1, s->kind == SOCK_STREAM ? S_CLIENT : D_CONNECTED);
  s->phase = 0;
  return gl_ls_ok(L);
}

static int connect_run(lua_State *L, gl_lsock *s) {
  struct sockaddr_un a;
  socklen_t len;
  if (make_addr(L, 2, &a, &len) < 0) return gl_ls_fail(L, "path too long");
  if (s->fd == GL_LS_INVALID) return fail_and_close(L, s, gl_ls_strerror(LS_CLOSED));
  for (;;) {
    if (connect(s->fd, (struct sockaddr *)&a, len) == 0) return connected(L, s);
    int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN && s->phase) return connected(L, s);
    if (err != EINPROGRESS && err != EAGAIN) return fail_and_close(L, s, gl_ls_strerror(err));
    /* 3.1.0 reports success once the fd polls ready after EAGAIN, without
    ** trying again; so do we, rather than spin on a full backlog */
    if (s->phase) return connected(L, s);
    if (s->tm.block == 0) return fail_and_close(L, s, gl_ls_strerror(LS_TIMEOUT));
    s->phase = 1;
    return gl_ls_wait(L, s, GL_LS_R | GL_LS_W, gl_ls_retry(&s->tm, s->wstart), "connect",
                      connect_k);
  }
}

static int connect_start(lua_State *L, gl_lsock *s) {
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  s->wstart = gl_ls_gettime();
  s->phase = 0;
  return connect_run(L, s);
}

/* ------------------------------------------------------------ stream */

static int s_receive_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return gl_ls_receive_k(L, lua_touserdata(L, 1), s_receive_k);
}
static int s_receive(lua_State *L) {
  return gl_ls_receive(L, gl_ls_checkclass(L, S_CLIENT, 1), s_receive_k);
}

static int s_send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return gl_ls_send_k(L, lua_touserdata(L, 1), s_send_k);
}
static int s_send(lua_State *L) {
  return gl_ls_send(L, gl_ls_checkclass(L, S_CLIENT, 1), s_send_k);
}

static int s_getstats(lua_State *L) { return gl_ls_getstats(L, gl_ls_checkclass(L, S_CLIENT, 1)); }
static int s_setstats(lua_State *L) { return gl_ls_setstats(L, gl_ls_checkclass(L, S_CLIENT, 1)); }
static int s_dirty(lua_State *L) { return gl_ls_dirty(L, gl_ls_checkgroup(L, S_ANY, 1)); }
static int s_getfd(lua_State *L) { return meth_getfd_any(L, S_ANY); }
static int s_setfd(lua_State *L) { return setfd_any(L, S_ANY); }
static int s_getsockname(lua_State *L) { return getsockname_any(L, S_ANY); }

static int s_setoption(lua_State *L) {
  return gl_ls_setoption(L, gl_ls_unix_setopts, gl_ls_checkgroup(L, S_ANY, 1));
}
static int s_settimeout(lua_State *L) {
  return gl_ls_settimeout(L, &gl_ls_checkgroup(L, S_ANY, 1)->tm);
}

static int s_close(lua_State *L) {
  gl_ls_destroy(L, gl_ls_checkgroup(L, S_ANY, 1));
  return gl_ls_ok(L);
}

static int s_bind(lua_State *L) { return bind_any(L, gl_ls_checkclass(L, S_MASTER, 1)); }
static int s_connect(lua_State *L) { return connect_start(L, gl_ls_checkclass(L, S_MASTER, 1)); }

static int s_listen(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, S_MASTER, 1);
  lua_Number nb = luaL_optnumber(L, 2, 32);
  int backlog = nb != nb ? 0 : nb > 0x7fffffff ? 0x7fffffff : nb < -0x7fffffff ? -0x7fffffff : (int)nb;
  if (listen(s->fd, backlog) != 0) return gl_ls_fail(L, gl_ls_strerror(errno));
  gl_ls_setclass(L, 1, S_SERVER);
  return gl_ls_ok(L);
}

static int s_shutdown(lua_State *L) {
  static const char *const how[] = {"receive", "send", "both", NULL};
  gl_lsock *s = gl_ls_checkclass(L, S_CLIENT, 1);
  int h = luaL_checkoption(L, 2, "both", how);
  shutdown(s->fd, h);
  return gl_ls_ok(L);
}

static int accept_run(lua_State *L, gl_lsock *s);

static int accept_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  int r = gl_ls_waited(L);
  if (r != LS_DONE) return gl_ls_fail(L, gl_ls_strerror(r));
  return accept_run(L, s);
}

static int accept_run(lua_State *L, gl_lsock *s) {
  for (;;) {
    if (s->fd == GL_LS_INVALID) return gl_ls_fail(L, gl_ls_strerror(LS_CLOSED));
    int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      gl_ls_new(L, S_CLIENT, fd, AF_UNIX, SOCK_STREAM);
      return 1;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK && err != ECONNABORTED)
      return gl_ls_fail(L, gl_ls_strerror(err));
    if (s->tm.block == 0) return gl_ls_fail(L, gl_ls_strerror(LS_TIMEOUT));
    return gl_ls_wait(L, s, GL_LS_R, gl_ls_retry(&s->tm, s->rstart), "accept", accept_k);
  }
}

static int s_accept(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, S_SERVER, 1);
  lua_settop(L, 1);
  s->rstart = gl_ls_gettime();
  return accept_run(L, s);
}

static const luaL_Reg stream_methods[] = {
  {"__gc", s_close},
  {"__tostring", gl_ls_tostring},
  {"accept", s_accept},
  {"bind", s_bind},
  {"close", s_close},
  {"connect", s_connect},
  {"dirty", s_dirty},
  {"getfd", s_getfd},
  {"getstats", s_getstats},
  {"setstats", s_setstats},
  {"listen", s_listen},
  {"receive", s_receive},
  {"send", s_send},
  {"setfd", s_setfd},
  {"setoption", s_setoption},
  {"setpeername", s_connect},
  {"setsockname", s_bind},
  {"getsockname", s_getsockname},
  {"settimeout", s_settimeout},
  {"shutdown", s_shutdown},
  {NULL, NULL}
};

/* ------------------------------------------------------------- dgram */

static int d_send(lua_State *L) {
  return gl_ls_dgram_send(L, gl_ls_checkclass(L, D_CONNECTED, 1));
}

static int d_sendto_k(lua_State *L, int status, lua_KContext ctx);
static int d_sendto_slept(lua_State *L, int status, lua_KContext ctx);

/* Frame: 1 object, 2 data, 3 path. */
static int d_sendto_run(lua_State *L, gl_lsock *s) {
  size_t count;
  const char *data = lua_tolstring(L, 2, &count);
  struct sockaddr_un a;
  socklen_t len;
  if (make_addr(L, 3, &a, &len) < 0) return gl_ls_fail(L, "path too long");
  if (s->fd == GL_LS_INVALID) return gl_ls_fail(L, "refused");
  for (;;) {
    ssize_t put = sendto(s->fd, data, count, 0, (struct sockaddr *)&a, len);
    if (put >= 0) {
      lua_pushnumber(L, (lua_Number)put);
      return 1;
    }
    int err = errno;
    if (err == EINTR || err == EPROTOTYPE) continue;
    if (err == EPIPE) return gl_ls_fail(L, "refused");
    if (err != EAGAIN && err != EWOULDBLOCK) return gl_ls_fail(L, gl_ls_strerror(err));
    if (s->tm.block == 0) return gl_ls_fail(L, gl_ls_strerror(LS_TIMEOUT));
    double t = gl_ls_retry(&s->tm, s->wstart);
    if (t == 0) return gl_ls_fail(L, gl_ls_strerror(LS_TIMEOUT));
    if (s->phase == 0) {
      s->phase = 1;
      return gl_ls_wait(L, s, GL_LS_W, t, "sendto", d_sendto_k);
    }
    /* The fd polled writable, yet the receiver's queue is still full: for
    ** an unconnected unix dgram socket poll() only sees our own buffer, so
    ** waiting on the fd again would spin (3.1.0 spins in poll). Back off on
    ** a timer instead: 2, 4, ... 64 ms, within the timeout. */
    double nap = 0.001 * (double)(1 << (s->phase < 6 ? s->phase : 6));
    if (s->phase < 100) s->phase++;
    if (t > 0 && nap > t) nap = t;
    return gl_block(L, "sendto", NULL, nap, d_sendto_slept);
  }
}

/* After the back-off: drop the resume tag and value, try again. */
static int d_sendto_slept(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_settop(L, 3);
  return d_sendto_run(L, lua_touserdata(L, 1));
}

static int d_sendto_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  int r = gl_ls_waited(L);
  if (r == LS_CLOSED && s->fd == GL_LS_INVALID) r = LS_DONE;  /* closed meanwhile: "refused" */
  if (r != LS_DONE) return gl_ls_fail(L, r == LS_CLOSED ? "refused" : gl_ls_strerror(r));
  return d_sendto_run(L, s);
}

static int d_sendto(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, D_UNCONNECTED, 1);
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  lua_settop(L, 3);
  s->wstart = gl_ls_gettime();
  s->phase = 0;  /* 0: not waited yet; then the back-off step */
  return d_sendto_run(L, s);
}

static int d_receive(lua_State *L) {
  return gl_ls_dgram_receive(L, gl_ls_checkgroup(L, D_ANY, 1), 0);
}
static int d_receivefrom(lua_State *L) {
  return gl_ls_dgram_receive(L, gl_ls_checkclass(L, D_UNCONNECTED, 1), 1);
}

static int d_setoption(lua_State *L) {
  return gl_ls_setoption(L, gl_ls_unixdgram_setopts, gl_ls_checkgroup(L, D_ANY, 1));
}
static int d_settimeout(lua_State *L) {
  return gl_ls_settimeout(L, &gl_ls_checkgroup(L, D_ANY, 1)->tm);
}
static int d_gettimeout(lua_State *L) {
  return gl_ls_gettimeout(L, &gl_ls_checkgroup(L, D_ANY, 1)->tm);
}
static int d_dirty(lua_State *L) {
  gl_ls_checkgroup(L, D_ANY, 1);
  lua_pushboolean(L, 0);
  return 1;
}
static int d_getfd(lua_State *L) { return meth_getfd_any(L, D_ANY); }
static int d_setfd(lua_State *L) { return setfd_any(L, D_ANY); }
static int d_getsockname(lua_State *L) { return getsockname_any(L, D_ANY); }
static int d_bind(lua_State *L) { return bind_any(L, gl_ls_checkclass(L, D_UNCONNECTED, 1)); }
static int d_connect(lua_State *L) { return connect_start(L, gl_ls_checkgroup(L, D_ANY, 1)); }

static int d_close(lua_State *L) {
  gl_ls_destroy(L, gl_ls_checkgroup(L, D_ANY, 1));
  return gl_ls_ok(L);
}

static const luaL_Reg dgram_methods[] = {
  {"__gc", d_close},
  {"__tostring", gl_ls_tostring},
  {"bind", d_bind},
  {"close", d_close},
  {"connect", d_connect},
  {"dirty", d_dirty},
  {"getfd", d_getfd},
  {"send", d_send},
  {"sendto", d_sendto},
  {"receive", d_receive},
  {"receivefrom", d_receivefrom},
  {"setfd", d_setfd},
  {"setoption", d_setoption},
  {"setpeername", d_connect},
  {"setsockname", d_bind},
  {"getsockname", d_getsockname},
  {"settimeout", d_settimeout},
  {"gettimeout", d_gettimeout},
  {NULL, NULL}
};

/* ------------------------------------------------------------ module */

static int create(lua_State *L, const char *cls, int kind) {
  int fd = socket(AF_UNIX, kind | SOCK_CLOEXEC, 0);
  if (fd < 0) return gl_ls_fail(L, gl_ls_strerror(errno));
  gl_ls_new(L, cls, fd, AF_UNIX, kind);
  return 1;
}

static int l_stream(lua_State *L) { return create(L, S_MASTER, SOCK_STREAM); }
static int l_dgram(lua_State *L) { return create(L, D_UNCONNECTED, SOCK_DGRAM); }

/* socket.unix(...): the old interface, socket.unix.stream(...) */
static int l_call(lua_State *L) {
  lua_getfield(L, 1, "stream");
  lua_replace(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int luaopen_greenlua_socket_unix(lua_State *L) {
  lua_newtable(L);
  gl_ls_newclass(L, S_MASTER, stream_methods);
  gl_ls_newclass(L, S_CLIENT, stream_methods);
  gl_ls_newclass(L, S_SERVER, stream_methods);
  gl_ls_add2group(L, S_MASTER, S_ANY);
  gl_ls_add2group(L, S_CLIENT, S_ANY);
  gl_ls_add2group(L, S_SERVER, S_ANY);
  gl_ls_newclass(L, D_CONNECTED, dgram_methods);
  gl_ls_newclass(L, D_UNCONNECTED, dgram_methods);
  gl_ls_add2group(L, D_CONNECTED, D_ANY);
  gl_ls_add2group(L, D_UNCONNECTED, D_ANY);
  gl_ls_add2group(L, D_CONNECTED, "select{able}");
  gl_ls_add2group(L, D_UNCONNECTED, "select{able}");
  lua_pushcfunction(L, l_stream);
  lua_setfield(L, -2, "stream");
  lua_pushcfunction(L, l_dgram);
  lua_setfield(L, -2, "dgram");
  lua_getfield(L, -1, "stream");
  lua_setfield(L, -2, "tcp");
  lua_getfield(L, -1, "dgram");
  lua_setfield(L, -2, "udp");
  lua_pushcfunction(L, l_call);
  lua_setfield(L, -2, "__call");
  lua_pushvalue(L, -1);
  lua_setmetatable(L, -2);
  return 1;
}
