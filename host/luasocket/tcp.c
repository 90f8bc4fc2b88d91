/*
** tcp.c: the tcp{master}, tcp{client}, tcp{server} classes and
** socket.core's tcp, tcp4, tcp6 and connect, as 3.1.0's tcp.c, green.
**
** Contract: every method of 3.1.0's tcp objects, with its class checks,
** results and strings (Debian's LuaSocket under lua5.4 is the reference).
** tcp() makes no fd until the first bind/connect picks a family, as 3.1.0.
** connect resolves green, tries each address (the total timeout restarts
** per address, as inet_tryconnect's markstart does), and with a zero
** block timeout returns "timeout" with the connect in progress. accept and
** connect wait through gl_fd_wait; their restart state is on the stack
** (the address list, the index of the address being tried).
*/
#define _GNU_SOURCE  /* accept4 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "core/hub.h"
#include "luasocket/lsock.h"

#define MASTER "tcp{master}"
#define CLIENT "tcp{client}"
#define SERVER "tcp{server}"
#define ANY "tcp{any}"

/* ------------------------------------------------------------ stream methods */

static int receive_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return gl_ls_receive_k(L, lua_touserdata(L, 1), receive_k);
}
static int meth_receive(lua_State *L) {
  return gl_ls_receive(L, gl_ls_checkclass(L, CLIENT, 1), receive_k);
}

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return gl_ls_send_k(L, lua_touserdata(L, 1), send_k);
}
static int meth_send(lua_State *L) {
  return gl_ls_send(L, gl_ls_checkclass(L, CLIENT, 1), send_k);
}

static int meth_getstats(lua_State *L) {
  return gl_ls_getstats(L, gl_ls_checkclass(L, CLIENT, 1));
}
static int meth_setstats(lua_State *L) {
  return gl_ls_setstats(L, gl_ls_checkclass(L, CLIENT, 1));
}
static int meth_dirty(lua_State *L) {
  return gl_ls_dirty(L, gl_ls_checkgroup(L, ANY, 1));
}

static int meth_getoption(lua_State *L) {
  return gl_ls_getoption(L, gl_ls_tcp_getopts, gl_ls_checkgroup(L, ANY, 1));
}
static int meth_setoption(lua_State *L) {
  return gl_ls_setoption(L, gl_ls_tcp_setopts, gl_ls_checkgroup(L, ANY, 1));
}

static int meth_getfd(lua_State *L) {
  lua_pushnumber(L, gl_ls_checkgroup(L, ANY, 1)->fd);
  return 1;
}

/* setfd(n): as 3.1.0's, but only with numbers a green socket made (see
** gl_ls_setfd); setfd(-1) gives the fd away (LuaSec). */
static int meth_setfd(lua_State *L) {
  return gl_ls_setfd(L, gl_ls_checkgroup(L, ANY, 1));
}

static int meth_close(lua_State *L) {
  gl_ls_destroy(L, gl_ls_checkgroup(L, ANY, 1));
  return gl_ls_ok(L);
}

static int meth_getfamily(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  lua_pushstring(L, s->family == AF_INET6 ? "inet6" : "inet4");
  return 1;
}

static int meth_listen(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, MASTER, 1);
  lua_Number nb = luaL_optnumber(L, 2, 32);
  int backlog = nb != nb ? 0 : nb > 0x7fffffff ? 0x7fffffff : nb < -0x7fffffff ? -0x7fffffff : (int)nb;
  if (listen(s->fd, backlog) != 0) return gl_ls_fail(L, gl_ls_strerror(errno));
  gl_ls_setclass(L, 1, SERVER);
  return gl_ls_ok(L);
}

static int meth_shutdown(lua_State *L) {
  static const char *const how[] = {"receive", "send", "both", NULL};
  gl_lsock *s = gl_ls_checkclass(L, CLIENT, 1);
  int h = luaL_checkoption(L, 2, "both", how);
  shutdown(s->fd, h);
  return gl_ls_ok(L);
}

static int meth_getpeername(lua_State *L) {
  return gl_ls_getpeername(L, gl_ls_checkgroup(L, ANY, 1));
}
static int meth_getsockname(lua_State *L) {
  return gl_ls_getsockname(L, gl_ls_checkgroup(L, ANY, 1));
}
static int meth_settimeout(lua_State *L) {
  return gl_ls_settimeout(L, &gl_ls_checkgroup(L, ANY, 1)->tm);
}
static int meth_gettimeout(lua_State *L) {
  return gl_ls_gettimeout(L, &gl_ls_checkgroup(L, ANY, 1)->tm);
}

/* ------------------------------------------------------------ accept */

static int do_accept(lua_State *L, gl_lsock *s);

static int accept_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  int r = gl_ls_waited(L);
  if (r != LS_DONE) return gl_ls_fail(L, gl_ls_strerror(r));
  return do_accept(L, s);
}

static int do_accept(lua_State *L, gl_lsock *s) {
  for (;;) {
    if (s->fd < 0) return gl_ls_fail(L, "closed");
    int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      gl_lsock *c = gl_ls_new(L, CLIENT, fd, s->family, SOCK_STREAM);
      (void)c;
      return 1;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK && err != ECONNABORTED)
      return gl_ls_fail(L, gl_ls_strerror(err));
    if (s->tm.block == 0.0) return gl_ls_fail(L, "timeout");
    double t = gl_ls_retry(&s->tm, s->rstart);
    if (t == 0.0) return gl_ls_fail(L, "timeout");
    return gl_ls_wait(L, s, GL_LS_R, t, "accept", accept_k);
  }
}

static int meth_accept(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, SERVER, 1);
  lua_settop(L, 1);
  s->rstart = gl_ls_gettime();
  return do_accept(L, s);
}

/* ------------------------------------------------------------ bind */

/* Stack for bind: 1 obj, 2 address, 3 port, 4 the resolved list. */
static int bind_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  if (lua_isnil(L, -2)) return gl_ls_fail(L, lua_tostring(L, -1));
  const char *err = gl_ls_trybind(L, s, lua_gettop(L));
  if (err) return gl_ls_fail(L, err);
  return gl_ls_ok(L);
}

static int meth_bind(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, MASTER, 1);
  const char *address = luaL_checkstring(L, 2);
  const char *port = luaL_checkstring(L, 3);
  lua_settop(L, 3);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = s->family;
  hints.ai_flags = AI_PASSIVE;
  if (strcmp(address, "*") == 0) address = NULL;
  return gl_ls_resolve(L, address, port, &hints, "bind", bind_k);
}

/* ------------------------------------------------------------ connect
** The stack while connecting: 1 obj, ..., base: the address list, base+1:
** the index (1-based) of the address being tried, base+2: the last error.
** 'upon' (lua_KContext-free: kept in s->phase) tells what to do at the
** end: 0 a method (set the class, 1 | nil, err), 1 socket.connect (return
** the object | nil, err, closing it). */

static int connect_next(lua_State *L, gl_lsock *s, int base);

static int connect_end(lua_State *L, gl_lsock *s, int base, const char *err) {
  if (s->phase == 0) {
    gl_ls_setclass(L, 1, CLIENT);
    if (err) return gl_ls_fail(L, err);
    return gl_ls_ok(L);
  }
  /* socket.connect: the object is at 'base - 1' */
  if (err) {
    gl_ls_destroy(L, s);
    return gl_ls_fail(L, err);
  }
  gl_ls_setclass(L, base - 1, CLIENT);
  lua_pushvalue(L, base - 1);
  return 1;
}

/* The object: at 1 for the method (list at 4), at 6 for socket.connect (list at 7). */
static gl_lsock *connect_obj(lua_State *L, int base) {
  return lua_touserdata(L, base == 4 ? 1 : 6);
}

/* A connect to a local peer has usually finished by the time connect()
** says EINPROGRESS: one poll() that does not wait finds out, and spares
** the hub's round trip (a uv_poll made and closed, its epoll_ctl calls, a
** switch), which was a fifth of a socket.http request's time. */
static int settled_now(int fd) {
  struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
  int r;
  do r = poll(&p, 1, 0); while (r < 0 && errno == EINTR);
  return r == 1;
}

/* The outcome of a finished connect: 0 or its errno. */
static int so_error(int fd) {
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
  return soerr;
}

static int connect_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int r = gl_ls_waited(L);
  int base = lua_gettop(L) - 2;
  gl_lsock *s = connect_obj(L, base);
  const char *err = NULL;
  if (r == LS_DONE) {
    if (s->fd < 0) return connect_end(L, s, base, "closed");
    int soerr = so_error(s->fd);
    if (soerr == 0) return connect_end(L, s, base, NULL);
    err = gl_ls_strerror(soerr);
  } else if (r == LS_CLOSED) {
    return connect_end(L, s, base, "closed");
  } else {
    err = "timeout";
  }
  lua_pushstring(L, err);
  lua_replace(L, base + 2);
  lua_pushinteger(L, lua_tointeger(L, base + 1) + 1);
  lua_replace(L, base + 1);
  return connect_next(L, s, base);
}

static int connect_next(lua_State *L, gl_lsock *s, int base) {
  struct addrinfo *it = gl_ls_addrinfo(L, base);
  lua_Integer i = lua_tointeger(L, base + 1);
  for (lua_Integer j = 1; it && j < i; j++) it = it->ai_next;
  for (; it; it = it->ai_next, i++) {
    lua_pushinteger(L, i);
    lua_replace(L, base + 1);
    s->wstart = gl_ls_gettime();
    if (s->family != it->ai_family || s->fd < 0) {
      int e = gl_ls_create(s, it->ai_family);
      if (e) {
        lua_pushstring(L, gl_ls_strerror(e));
        lua_replace(L, base + 2);
        continue;
      }
      s->family = it->ai_family;
    }
    int r;
    do r = connect(s->fd, it->ai_addr, it->ai_addrlen); while (r < 0 && errno == EINTR);
    if (r == 0) return connect_end(L, s, base, NULL);
    int err = errno;
    if (err == EINPROGRESS || err == EAGAIN) {
      if (s->tm.block == 0.0) return connect_end(L, s, base, "timeout");
      if (settled_now(s->fd)) {  /* as the wait's end, without the wait */
        err = so_error(s->fd);
        if (err == 0) return connect_end(L, s, base, NULL);
        lua_pushstring(L, gl_ls_strerror(err));
        lua_replace(L, base + 2);
        continue;
      }
      double t = gl_ls_retry(&s->tm, s->wstart);
      if (t != 0.0) {
        lua_settop(L, base + 2);
        return gl_ls_wait(L, s, GL_LS_R | GL_LS_W, t, "connect", connect_wait_k);
      }
      err = LS_TIMEOUT;
    }
    lua_pushstring(L, gl_ls_strerror(err));
    lua_replace(L, base + 2);
  }
  return connect_end(L, s, base, lua_tostring(L, base + 2));
}

/* The list (or nil, err) is on top, at 'base' (or base, base+1). */
static int connect_resolved(lua_State *L, int base) {
  gl_lsock *s = connect_obj(L, base);
  if (lua_isnil(L, base)) return connect_end(L, s, base, lua_tostring(L, base + 1));
  lua_settop(L, base);
  lua_pushinteger(L, 1);
  lua_pushstring(L, "host or service not provided, or not known");
  return connect_next(L, s, base);
}

static int meth_connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return connect_resolved(L, 4);
}

static int meth_connect(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  const char *address = luaL_checkstring(L, 2);
  const char *port = luaL_checkstring(L, 3);
  lua_settop(L, 3);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = s->family;
  s->phase = 0;
  return gl_ls_resolve(L, address, port, &hints, "connect", meth_connect_k);
}

/* socket.connect(address, port, localaddr, localport, family).
** Stack: 1..5 the arguments, 6 the object, 7 the list, 8 index, 9 error. */
static int global_connect_k2(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return connect_resolved(L, 7);
}

static int global_connect_go(lua_State *L, gl_lsock *s) {
  lua_settop(L, 6);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = s->family;
  s->phase = 1;
  return gl_ls_resolve(L, lua_tostring(L, 1), lua_tostring(L, 2), &hints, "connect",
                       global_connect_k2);
}

static int global_connect_k1(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 6);
  if (lua_isnil(L, 7)) return gl_ls_fail(L, lua_tostring(L, 8));
  const char *err = gl_ls_trybind(L, s, 7);
  if (err) return gl_ls_fail(L, err);
  return global_connect_go(L, s);
}

static int family_arg(lua_State *L, int idx) {
  static const char *const names[] = {"unspec", "inet", "inet6", NULL};
  static const int fams[] = {AF_UNSPEC, AF_INET, AF_INET6};
  return fams[luaL_checkoption(L, idx, "unspec", names)];
}

static int global_connect(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  const char *localaddr = luaL_optstring(L, 3, NULL);
  const char *localserv = luaL_optstring(L, 4, "0");
  int family = family_arg(L, 5);
  lua_settop(L, 5);
  gl_lsock *s = gl_ls_new(L, MASTER, GL_LS_INVALID, AF_UNSPEC, SOCK_STREAM);
  if (localaddr) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = family;
    hints.ai_flags = AI_PASSIVE;
    if (strcmp(localaddr, "*") == 0) localaddr = NULL;
    return gl_ls_resolve(L, localaddr, localserv, &hints, "connect", global_connect_k1);
  }
  return global_connect_go(L, s);
}

/* ------------------------------------------------------------ creation */

static int create(lua_State *L, int family) {
  gl_lsock *s = gl_ls_new(L, MASTER, GL_LS_INVALID, family, SOCK_STREAM);
  if (family != AF_UNSPEC) {
    int e = gl_ls_create(s, family);
    if (e) return gl_ls_fail(L, gl_ls_strerror(e));
  }
  return 1;
}
static int global_create(lua_State *L) { return create(L, AF_UNSPEC); }
static int global_create4(lua_State *L) { return create(L, AF_INET); }
static int global_create6(lua_State *L) { return create(L, AF_INET6); }

void gl_ls_open_tcp(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"__gc", meth_close}, {"__tostring", gl_ls_tostring}, {"accept", meth_accept},
    {"bind", meth_bind}, {"close", meth_close}, {"connect", meth_connect},
    {"dirty", meth_dirty}, {"getfamily", meth_getfamily}, {"getfd", meth_getfd},
    {"getoption", meth_getoption}, {"getpeername", meth_getpeername},
    {"getsockname", meth_getsockname}, {"getstats", meth_getstats},
    {"setstats", meth_setstats}, {"listen", meth_listen}, {"receive", meth_receive},
    {"send", meth_send}, {"setfd", meth_setfd}, {"setoption", meth_setoption},
    {"setpeername", meth_connect}, {"setsockname", meth_bind},
    {"settimeout", meth_settimeout}, {"gettimeout", meth_gettimeout},
    {"shutdown", meth_shutdown}, {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"tcp", global_create}, {"tcp4", global_create4}, {"tcp6", global_create6},
    {"connect", global_connect}, {NULL, NULL}
  };
  gl_ls_newclass(L, MASTER, methods);
  gl_ls_newclass(L, CLIENT, methods);
  gl_ls_newclass(L, SERVER, methods);
  gl_ls_add2group(L, MASTER, ANY);
  gl_ls_add2group(L, CLIENT, ANY);
  gl_ls_add2group(L, SERVER, ANY);
  luaL_setfuncs(L, funcs, 0);
}
