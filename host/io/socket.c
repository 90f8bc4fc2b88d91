/*
** socket.c: the stream socket object: the Lua methods, accept, names,
** options, shutdown, close. Reading and writing are the stream's
** (stream.c); creating and connecting sockets is in net.c; TLS is a filter
** on the stream (tls.c), which this file knows only as a gl_filter.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "io/socket.h"

#define SOCKET_MT "green.Socket"

static const void *socket_mt;

/* ------------------------------------------------------------- helpers */

const char *gl_sock_strerror(int err) {
  return gl_strerror(err);
}

int gl_sock_fail(lua_State *L, int err) {
  return gl_stream_fail(L, NULL, err);
}

gl_sock *gl_sock_test(lua_State *L, int idx) {
  return gl_udata_meta(L, idx) == socket_mt ? lua_touserdata(L, idx) : NULL;
}

/* The socket at index 1, raising if it is not one. */
static gl_sock *to_sock(lua_State *L) {
  gl_sock *s = gl_sock_test(L, 1);
  if (s == NULL) luaL_typeerror(L, 1, "socket");
  return s;
}

gl_sock *gl_sock_check(lua_State *L, int idx, const char *what) {
  gl_sock *s = gl_sock_test(L, idx);
  if (s == NULL) luaL_typeerror(L, idx, "socket");
  if (s->io == NULL) luaL_error(L, "%s: the socket is closed", what);
  return s;
}

/* A socket that carries bytes: open and not listening. */
static gl_sock *check_conn(lua_State *L, const char *what) {
  gl_sock *s = gl_sock_check(L, 1, what);
  if (s->listening) luaL_error(L, "%s: the socket is listening", what);
  return s;
}

static void on_close(uv_handle_t *h) {
  free((gl_io *)h);  /* the handle is the first member of its gl_io */
}

/* Let go of libuv: the handle closes in the background. */
void gl_sock_release(gl_sock *s) {
  if (s->io == NULL) return;
  gl_stream_detach(&s->st);
  s->io->owner = NULL;
  uv_close(&s->io->h.handle, on_close);
  s->io = NULL;
}

static void wake_all(lua_State *L, gl_waitq *q) {
  while (q->head) {
    lua_pushnil(L);
    gl_wake_one(L, q);
  }
}

gl_sock *gl_sock_new(lua_State *L, int kind, int family) {
  gl_sock *s = lua_newuserdatauv(L, sizeof *s, 1);  /* GL_STREAM_UV_WRITING */
  memset(s, 0, sizeof *s);
  s->kind = kind;
  s->st.timeout = -1;
  luaL_setmetatable(L, SOCKET_MT);
  gl_io *io = calloc(1, sizeof *io);
  if (io == NULL) luaL_error(L, "not enough memory");
  int err = kind == GL_TCP ? uv_tcp_init_ex(gl_H.loop, &io->h.tcp, (unsigned)family)
                           : uv_pipe_init(gl_H.loop, &io->h.pipe, 0);
  if (err) {
    free(io);
    luaL_error(L, "socket: %s", uv_strerror(err));
  }
  gl_stream_init(&s->st, &io->h.stream, "socket");
  io->owner = s;
  s->io = io;
  return s;
}

/* ------------------------------------------------------- reading, writing */

/* sock:receive([pattern [, prefix]]) */
static int l_receive(lua_State *L) {
  return gl_stream_receive(L, &check_conn(L, "receive")->st);
}

/* sock:recv([max]) -> up to max bytes as soon as any arrive */
static int l_recv(lua_State *L) {
  return gl_stream_recv(L, &check_conn(L, "recv")->st);
}

/* sock:send(data) -> bytes sent, or nil, err, sent */
static int l_send(lua_State *L) {
  return gl_stream_send(L, &check_conn(L, "send")->st);
}

/* sock:settimeout(seconds): per operation; nil (or negative) for none */
static int l_settimeout(lua_State *L) {
  return gl_stream_settimeout(L, &to_sock(L)->st);
}

/* ------------------------------------------------------------ accepting */

static void on_connection(uv_stream_t *server, int status) {
  gl_sock *s = ((gl_io *)server)->owner;
  if (s == NULL) return;
  if (status < 0) s->accept_err = status;
  else s->pending++;
  if (s->acceptors.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &s->acceptors);
  }
}

int gl_sock_listen(gl_sock *s, int backlog) {
  int err = uv_listen(&s->io->h.stream, backlog, on_connection);
  if (err == 0) s->listening = 1;
  return err;
}

/* Push ip, port of a TCP peer or of the socket itself (a path for Unix). */
static int push_name(lua_State *L, gl_sock *s, int peer) {
  struct sockaddr_storage ss;
  int len = sizeof ss, err;
  if (s->kind != GL_TCP) {
    char path[1024];
    size_t n = sizeof path;
    err = peer ? uv_pipe_getpeername(&s->io->h.pipe, path, &n)
               : uv_pipe_getsockname(&s->io->h.pipe, path, &n);
    if (err) return gl_sock_fail(L, err);
    lua_pushlstring(L, path, n);
    return 1;
  }
  err = peer ? uv_tcp_getpeername(&s->io->h.tcp, (struct sockaddr *)&ss, &len)
             : uv_tcp_getsockname(&s->io->h.tcp, (struct sockaddr *)&ss, &len);
  if (err) return gl_sock_fail(L, err);
  return gl_push_address(L, (struct sockaddr *)&ss);
}

static int accept_k(lua_State *L, int status, lua_KContext ctx);

/* accept's frame: 1 listener, 2 deadline. */
static int accept_step(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  if (s->closed) return gl_sock_fail(L, UV_ECANCELED);
  if (s->pending > 0) {
    gl_sock *c = gl_sock_new(L, s->kind, AF_UNSPEC);
    int err = uv_accept(&s->io->h.stream, &c->io->h.stream);
    s->pending--;
    if (err == 0 && s->kind == GL_TCP) uv_tcp_nodelay(&c->io->h.tcp, 1);
    /* a filtered listener (TLS) gives each client its own filter */
    if (err == 0 && s->st.filter && s->st.filter->accept)
      err = s->st.filter->accept(&s->st, &c->st);
    if (err) {
      gl_sock_release(c);
      return gl_sock_fail(L, err);
    }
    if (s->kind != GL_TCP) return 1;
    int client = lua_gettop(L);
    int n = push_name(L, c, 1);
    if (lua_isnil(L, client + 1)) {  /* peer gone already: no address */
      lua_settop(L, client);
      return 1;
    }
    return 1 + n;
  }
  if (s->accept_err) {
    int err = s->accept_err;
    s->accept_err = 0;
    return gl_sock_fail(L, err);
  }
  double left = gl_time_left(L, 2);
  lua_settop(L, 2);
  if (left == 0) return gl_sock_fail(L, UV_ETIMEDOUT);  /* due already: do not block */
  return gl_block(L, "accept", &s->acceptors, left, accept_k);
}

static int accept_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 2)) return gl_sock_fail(L, UV_ETIMEDOUT);
  return accept_step(L);
}

/* sock:accept() -> client, ip, port */
static int l_accept(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "accept");
  if (!s->listening) return luaL_error(L, "accept: the socket is not listening");
  lua_settop(L, 1);
  lua_pushnumber(L, gl_deadline(s->st.timeout));
  return accept_step(L);
}

/* ------------------------------------------------------- the rest of it */

/* sock:close(), also __close and __gc: wakes whoever waits with nil,
** "closed" (under __gc nobody can: a blocked thread's frame holds it). */
static int l_close(lua_State *L) {
  gl_sock *s = to_sock(L);
  if (s->io == NULL) return 0;
  s->closed = 1;
  gl_stream_wake_all(&s->st);
  wake_all(L, &s->acceptors);
  wake_all(L, &s->connectors);
  gl_sock_release(s);
  lua_pushnil(L);
  lua_setiuservalue(L, 1, GL_STREAM_UV_WRITING);
  return 0;
}

/* sock:shutdown([how]) with how "send", "receive" or "both" (default) */
static int l_shutdown(lua_State *L) {
  static const char *const hows[] = {"both", "send", "receive", NULL};
  gl_sock *s = check_conn(L, "shutdown");
  int how = luaL_checkoption(L, 2, "both", hows);
  if (how != 1) gl_stream_shutdown_read(&s->st);
  if (how != 2) {
    int err = gl_stream_shutdown_send(&s->st);
    if (err) return gl_sock_fail(L, err);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_getpeername(lua_State *L) {
  return push_name(L, gl_sock_check(L, 1, "getpeername"), 1);
}

static int l_getsockname(lua_State *L) {
  return push_name(L, gl_sock_check(L, 1, "getsockname"), 0);
}

/* setoption("max-line", n): n a positive integer, or 0, false or nil for
** no limit. */
static int set_max_line(lua_State *L, gl_sock *s) {
  lua_Integer n = 0;
  if (lua_toboolean(L, 3)) {
    int isnum;
    n = lua_tointegerx(L, 3, &isnum);
    luaL_argcheck(L, isnum && n >= 0, 3, "max-line must be a non-negative integer");
  }
  s->st.max_line = (size_t)n;
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:setoption(name, value) */
static int l_setoption(lua_State *L) {
  static const char *const names[] = {"tcp-nodelay", "keepalive", "reuseaddr", "linger",
                                      "max-line", NULL};
  gl_sock *s = gl_sock_check(L, 1, "setoption");
  int opt = luaL_checkoption(L, 2, NULL, names);
  if (opt == 4) return set_max_line(L, s);
  int on = lua_toboolean(L, 3), err = 0;
  if (s->kind != GL_TCP) return luaL_error(L, "setoption: %s applies to TCP sockets", names[opt]);
  uv_os_fd_t fd;
  switch (opt) {
    case 0: err = uv_tcp_nodelay(&s->io->h.tcp, on); break;
    case 1: err = uv_tcp_keepalive(&s->io->h.tcp, on, 60); break;
    default:
      err = uv_fileno(&s->io->h.handle, &fd);
      if (err == 0) {
        int value = on;
        if (opt == 2 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &value, sizeof value) < 0)
          err = uv_translate_sys_error(errno);
        if (opt == 3) {
          lua_Integer secs = on ? luaL_optinteger(L, 4, 0) : 0;
          luaL_argcheck(L, secs >= 0 && secs <= 65535, 4, "linger time out of range");
          struct linger lg = { on, (int)secs };
          if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
            err = uv_translate_sys_error(errno);
        }
      }
  }
  if (err) return gl_sock_fail(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_tostring(lua_State *L) {
  gl_sock *s = to_sock(L);
  const char *kind = s->kind == GL_TCP ? "tcp" : "unix";
  const char *state = s->io == NULL ? "closed" : s->listening ? "listening" : "connected";
  const char *filter = s->st.filter ? s->st.filter->name : NULL;
  lua_pushfstring(L, "%s socket (%s%s%s)", kind, state, filter ? ", " : "", filter ? filter : "");
  return 1;
}

/* sock:getfd() -> the OS descriptor, or -1 once closed (LuaSocket's getfd;
** green.hub.wait and LuaSec's wrap take it) */
static int l_getfd(lua_State *L) {
  gl_sock *s = to_sock(L);
  uv_os_fd_t fd = -1;
  if (s->io == NULL || uv_fileno(&s->io->h.handle, &fd) != 0) fd = -1;
  lua_pushinteger(L, fd);
  return 1;
}

/* is_closed(sock) -> true once close() was called (for serve) */
static int l_is_closed(lua_State *L) {
  lua_pushboolean(L, to_sock(L)->io == NULL);
  return 1;
}

void gl_open_socket(lua_State *L) {
  lua_pushcfunction(L, l_is_closed);
  lua_setfield(L, -2, "is_closed");
  static const luaL_Reg methods[] = {
    {"receive", l_receive}, {"recv", l_recv}, {"send", l_send},
    {"accept", l_accept}, {"close", l_close}, {"shutdown", l_shutdown},
    {"getpeername", l_getpeername}, {"getsockname", l_getsockname},
    {"settimeout", l_settimeout}, {"setoption", l_setoption}, {"getfd", l_getfd},
    {NULL, NULL}
  };
  luaL_newmetatable(L, SOCKET_MT);
  luaL_newlib(L, methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "SocketMethods");  /* the Lua half adds lines, tls adds handshake */
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  socket_mt = lua_topointer(L, -1);
  lua_pop(L, 1);
}
