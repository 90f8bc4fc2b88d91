/*
** net.c: making sockets: name resolution through libuv's resolver (never
** blocking the process), TCP and Unix listen and connect. The Lua half
** (lib/green/net.lua) composes these into green.listen, green.connect, ...
** A Unix path is a C string to the kernel: one with a zero byte, or longer
** than sun_path, returns nil, err instead of being cut.
*/
#define _GNU_SOURCE  /* struct ucred */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <lauxlib.h>
#include "io/socket.h"

/* ----------------------------------------------------------- addresses */

int gl_parse_address(const char *ip, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0) return 0;
  return uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss);
}

int gl_push_address(lua_State *L, const struct sockaddr *sa) {
  char ip[64] = "";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
  }
  lua_pushstring(L, ip);
  lua_pushinteger(L, port);
  return 2;
}

static int check_port(lua_State *L, int idx) {
  lua_Integer port = luaL_checkinteger(L, idx);
  luaL_argcheck(L, port >= 0 && port <= 65535, idx, "port out of range");
  return (int)port;
}

/* A Unix socket path at 'idx': 0, or why the kernel cannot take it whole. */
static int check_path(lua_State *L, int idx, const char **path) {
  size_t len;
  *path = luaL_checklstring(L, idx, &len);
  if (strlen(*path) != len) return UV_EINVAL;
  if (len >= sizeof(((struct sockaddr_un *)0)->sun_path)) return UV_ENAMETOOLONG;
  return 0;
}

static void parse_or_raise(lua_State *L, int idx, int port, struct sockaddr_storage *ss) {
  const char *ip = luaL_checkstring(L, idx);
  if (gl_parse_address(ip, port, ss) != 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "not a numeric address: '%s'", ip));
}

/* ---------------------------------------------------------- resolution */

typedef struct dns_req {
  uv_getaddrinfo_t req;
  gl_waitq waiter;
  int status, done, abandoned;
  struct addrinfo *res;
} dns_req;

static void dns_free(dns_req *r) {
  if (r->res) uv_freeaddrinfo(r->res);
  free(r);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  dns_req *r = (dns_req *)req;
  r->status = status;
  r->res = res;
  r->done = 1;
  if (r->abandoned) {
    dns_free(r);
    return;
  }
  lua_pushnil(gl_H.L);
  gl_wake_one(gl_H.L, &r->waiter);
}

/* Frame: 1 host, 2 the dns_req. */
static int resolved_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  dns_req *r = lua_touserdata(L, 2);
  lua_settop(L, 2);
  if (r->status) {
    int err = r->status;
    dns_free(r);
    return gl_sock_fail(L, err);
  }
  lua_newtable(L);
  lua_newtable(L);  /* seen */
  int n = 0;
  for (struct addrinfo *a = r->res; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    gl_push_address(L, a->ai_addr);
    lua_pop(L, 1);                    /* the port */
    lua_pushvalue(L, -1);
    if (lua_rawget(L, 4) != LUA_TNIL) {
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, 4);
    lua_rawseti(L, 3, ++n);
  }
  dns_free(r);
  lua_pop(L, 1);
  return 1;
}

/* Interrupted: a pending request frees itself when libuv answers. */
static void resolved_cancel(lua_State *L) {
  dns_req *r = lua_touserdata(L, 2);
  if (r->done) dns_free(r);
  else {
    r->abandoned = 1;
    uv_cancel((uv_req_t *)&r->req);
  }
}

/* getaddrinfo(host) -> array of address strings, or nil, err */
static int l_getaddrinfo(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  struct sockaddr_storage ss;
  if (gl_parse_address(host, 0, &ss) == 0) {   /* numeric already */
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    return 1;
  }
  gl_check_block(L, "getaddrinfo");
  dns_req *r = calloc(1, sizeof *r);
  if (r == NULL) return gl_sock_fail(L, UV_ENOMEM);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int err = uv_getaddrinfo(gl_H.loop, &r->req, on_resolved, host, NULL, &hints);
  if (err) {
    free(r);
    return gl_sock_fail(L, err);
  }
  lua_settop(L, 1);
  lua_pushlightuserdata(L, r);
  return gl_block_cancel(L, "getaddrinfo", &r->waiter, -1, resolved_k, resolved_cancel);
}

/* ---------------------------------------------------------- connecting */

static void on_connect(uv_connect_t *req, int status) {
  gl_io *io = (gl_io *)((char *)req - offsetof(gl_io, connect_req));
  gl_sock *s = io->owner;
  if (s == NULL) return;
  s->connect_status = status;
  if (s->connectors.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &s->connectors);
  }
}

/* Frame: ..., top: the socket. */
static int connected_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int timedout = lua_touserdata(L, -2) == GL_TIMEDOUT;
  lua_pop(L, 2);
  gl_sock *s = lua_touserdata(L, -1);
  int err = timedout ? UV_ETIMEDOUT : s->closed ? UV_ECANCELED : s->connect_status;
  if (err) {
    gl_sock_release(s);
    return gl_sock_fail(L, err);
  }
  if (s->kind == GL_TCP) uv_tcp_nodelay(&s->io->h.tcp, 1);
  return 1;
}

static void connect_cancel(lua_State *L) {
  gl_sock *s = lua_touserdata(L, -3);
  gl_sock_release(s);
}

static int await_connect(lua_State *L, gl_sock *s, double timeout) {
  s->connect_status = 1;  /* pending */
  return gl_block_cancel(L, "connect", &s->connectors, timeout, connected_k, connect_cancel);
}

/* tcp_connect(ip, port [, timeout [, bind_ip, bind_port]]) -> sock | nil, err */
static int l_tcp_connect(lua_State *L) {
  struct sockaddr_storage to, from;
  int port = check_port(L, 2);
  parse_or_raise(L, 1, port, &to);
  double timeout = gl_opt_timeout(L, 3);
  int bind = !lua_isnoneornil(L, 4);
  if (bind) parse_or_raise(L, 4, (int)luaL_optinteger(L, 5, 0), &from);
  gl_check_block(L, "connect");
  lua_settop(L, 5);
  gl_sock *s = gl_sock_new(L, GL_TCP, AF_UNSPEC);
  int err = bind ? uv_tcp_bind(&s->io->h.tcp, (struct sockaddr *)&from, 0) : 0;
  if (err == 0)
    err = uv_tcp_connect(&s->io->connect_req, &s->io->h.tcp, (struct sockaddr *)&to, on_connect);
  if (err) {
    gl_sock_release(s);
    return gl_sock_fail(L, err);
  }
  return await_connect(L, s, timeout);
}

/* unix_connect(path [, timeout]) -> sock | nil, err */
static int l_unix_connect(lua_State *L) {
  const char *path;
  int bad = check_path(L, 1, &path);
  double timeout = gl_opt_timeout(L, 2);
  if (bad) return gl_sock_fail(L, bad);
  gl_check_block(L, "connect_unix");
  lua_settop(L, 2);
  gl_sock *s = gl_sock_new(L, GL_PIPE, AF_UNSPEC);
  uv_pipe_connect(&s->io->connect_req, &s->io->h.pipe, path, on_connect);
  return await_connect(L, s, timeout);
}

/* ----------------------------------------------------------- listening */

/* tcp_listen(ip, port, backlog, reuse_port) -> sock | nil, err */
static int l_tcp_listen(lua_State *L) {
  struct sockaddr_storage at;
  int port = check_port(L, 2);
  parse_or_raise(L, 1, port, &at);
  int backlog = (int)luaL_optinteger(L, 3, 128);
  int reuse_port = lua_toboolean(L, 4);
  lua_settop(L, 4);
  gl_sock *s = gl_sock_new(L, GL_TCP, at.ss_family);
  int err = 0;
  if (reuse_port) {
    uv_os_fd_t fd;
    int on = 1;
    err = uv_fileno(&s->io->h.handle, &fd);
    if (err == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
      err = uv_translate_sys_error(errno);
  }
  if (err == 0) err = uv_tcp_bind(&s->io->h.tcp, (struct sockaddr *)&at, 0);
  if (err == 0) err = gl_sock_listen(s, backlog);
  if (err) {
    gl_sock_release(s);
    return gl_sock_fail(L, err);
  }
  return 1;
}

/* unix_listen(path, backlog [, mode]) -> sock | nil, err. With a mode, the
** socket file is created with it (umask), so it is never open wider. */
static int l_unix_listen(lua_State *L) {
  const char *path;
  int bad = check_path(L, 1, &path);
  int backlog = (int)luaL_optinteger(L, 2, 128);
  int mode = (int)luaL_optinteger(L, 3, -1);
  if (bad) return gl_sock_fail(L, bad);
  lua_settop(L, 3);
  gl_sock *s = gl_sock_new(L, GL_PIPE, AF_UNSPEC);
  mode_t old = 0;
  if (mode >= 0) old = umask((mode_t)(~mode & 0777));
  int err = uv_pipe_bind(&s->io->h.pipe, path);
  if (mode >= 0) umask(old);
  if (err == 0) err = gl_sock_listen(s, backlog);
  if (err) {
    gl_sock_release(s);
    return gl_sock_fail(L, err);
  }
  return 1;
}

/* peer_uid(sock) -> the user id of a Unix socket's peer, or nil, err */
static int l_peer_uid(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "peer_uid");
  uv_os_fd_t fd;
  struct ucred cred;
  socklen_t len = sizeof cred;
  int err = uv_fileno(&s->io->h.handle, &fd);
  if (err) return gl_sock_fail(L, err);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return gl_sock_fail(L, uv_translate_sys_error(errno));
  lua_pushinteger(L, cred.uid);
  return 1;
}

/* getuid() -> this process's user id (to compare with peer_uid) */
static int l_getuid(lua_State *L) {
  lua_pushinteger(L, getuid());
  return 1;
}

static int l_getpid(lua_State *L) {
  lua_pushinteger(L, uv_os_getpid());
  return 1;
}

/* chmod(path, mode) -> true, or nil, err */
static int l_chmod(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (chmod(path, (mode_t)luaL_checkinteger(L, 2)) < 0)
    return gl_sock_fail(L, uv_translate_sys_error(errno));
  lua_pushboolean(L, 1);
  return 1;
}

void gl_open_net(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"getaddrinfo", l_getaddrinfo}, {"tcp_connect", l_tcp_connect},
    {"unix_connect", l_unix_connect}, {"tcp_listen", l_tcp_listen},
    {"unix_listen", l_unix_listen}, {"peer_uid", l_peer_uid}, {"getuid", l_getuid}, {"getpid", l_getpid},
    {"chmod", l_chmod}, {NULL, NULL}
  };
  luaL_setfuncs(L, functions, 0);
}
