/*
** net.c: making sockets: name resolution through libuv's resolver (never
** blocking the process; see net.h), TCP and Unix listen and connect, and
** tcp_adopt (a duplicate of a connected fd made elsewhere, e.g. by
** LuaSocket, as a green socket: for LuaSec's ssl.wrap). The
** Lua half (lib/green/net.lua) composes these into green.listen,
** green.connect, ...: it checks the user's arguments and names the user's
** function in its errors; the checks here keep direct calls safe.
** Paths and names are C strings to the kernel: one with a zero byte, or a
** Unix path longer than sun_path, returns nil, err instead of being cut.
*/
#define _GNU_SOURCE  /* struct ucred */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <lauxlib.h>
#include "io/net.h"
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

/* ------------------------------------------------------ argument checks */

int gl_net_argerror(lua_State *L, int arg, const char *fn, const char *msg) {
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.namewhat
      && strcmp(ar.namewhat, "method") == 0 && --arg == 0)
    return luaL_error(L, "calling '%s' on bad self (%s)", fn, msg);
  return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, fn, msg);
}

int gl_net_typeerror(lua_State *L, int arg, const char *fn, const char *tname) {
  const char *got;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING) got = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA) got = "light userdata";
  else got = luaL_typename(L, arg);
  return gl_net_argerror(L, arg, fn, lua_pushfstring(L, "%s expected, got %s", tname, got));
}

const char *gl_net_checkstring(lua_State *L, int arg, const char *fn, size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (s == NULL) gl_net_typeerror(L, arg, fn, "string");
  return s;
}

lua_Integer gl_net_checkinteger(lua_State *L, int arg, const char *fn) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, arg, &isnum);
  if (!isnum) {
    if (lua_type(L, arg) == LUA_TNUMBER) gl_net_argerror(L, arg, fn, "number has no integer representation");
    else gl_net_typeerror(L, arg, fn, "integer");
  }
  return v;
}

double gl_net_opttimeout(lua_State *L, int arg, const char *fn) {
  if (lua_isnoneornil(L, arg)) return -1;
  if (lua_type(L, arg) != LUA_TNUMBER) gl_net_typeerror(L, arg, fn, "number");
  double t = lua_tonumber(L, arg);
  if (t != t) gl_net_argerror(L, arg, fn, "timeout is NaN");
  return t > 0 ? t : 0;
}

int gl_check_port(lua_State *L, int arg, const char *fn) {
  if (lua_type(L, arg) != LUA_TNUMBER) gl_net_typeerror(L, arg, fn, "integer port");
  lua_Integer port = gl_net_checkinteger(L, arg, fn);
  if (port < 0 || port > 65535) gl_net_argerror(L, arg, fn, "port out of range");
  return (int)port;
}

int gl_opt_family(lua_State *L, int arg, const char *fn) {
  if (lua_isnoneornil(L, arg)) return AF_UNSPEC;
  const char *f = lua_type(L, arg) == LUA_TSTRING ? lua_tostring(L, arg) : "";
  if (strcmp(f, "inet") == 0) return AF_INET;
  if (strcmp(f, "inet6") == 0) return AF_INET6;
  return gl_net_argerror(L, arg, fn, "\"inet\" or \"inet6\" expected");
}

/* An optional integer argument in [lo, hi], else 'dflt'. */
static int opt_int_range(lua_State *L, int arg, const char *fn, int dflt, int lo, int hi,
                         const char *msg) {
  if (lua_isnoneornil(L, arg)) return dflt;
  lua_Integer v = gl_net_checkinteger(L, arg, fn);
  if (v < lo || v > hi) gl_net_argerror(L, arg, fn, msg);
  return (int)v;
}

/* A Unix socket path at 'arg': 0, or why the kernel cannot take it whole. */
static int check_path(lua_State *L, int arg, const char *fn, const char **path) {
  size_t len;
  if (lua_type(L, arg) != LUA_TSTRING) gl_net_typeerror(L, arg, fn, "string");
  *path = lua_tolstring(L, arg, &len);
  if (strlen(*path) != len) return UV_EINVAL;
  if (len >= sizeof(((struct sockaddr_un *)0)->sun_path)) return UV_ENAMETOOLONG;
  return 0;
}

static void parse_or_raise(lua_State *L, int arg, const char *fn, int port,
                           struct sockaddr_storage *ss) {
  if (lua_type(L, arg) != LUA_TSTRING) gl_net_typeerror(L, arg, fn, "string");
  const char *ip = lua_tostring(L, arg);
  if (gl_parse_address(ip, port, ss) != 0)
    gl_net_argerror(L, arg, fn, lua_pushfstring(L, "not a numeric address: '%s'", ip));
}

/* ---------------------------------------------------------- resolution */

typedef struct dns_req {
  uv_getaddrinfo_t req;
  gl_waitq waiter;
  int status, done, abandoned;
  struct addrinfo *res;
} dns_req;

/* The waiting thread's hold on its request: a userdata in its frame. When
** it is collected without having taken the answer (lua_close at exit, with
** the lookup still running), the request is abandoned, so a late answer
** never touches a closed Lua state. */
#define DNS_GUARD_MT "green.dns_request"
typedef struct dns_guard {
  dns_req *r;  /* NULL once the answer was taken or the request abandoned */
} dns_guard;

static void dns_free(dns_req *r) {
  if (r->res) uv_freeaddrinfo(r->res);
  free(r);
}

/* libuv's answer, or its note that the request was cancelled. A request
** whose caller stopped waiting frees itself here. */
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
  gl_wake_one(gl_H.L, &r->waiter);  /* nobody there if its deadline woke it first */
}

/* The caller stops waiting: an answered request goes now, an unanswered
** one when libuv is done with it (at once if no resolver thread took it
** yet: uv_cancel then answers UV_EAI_CANCELED). */
static void abandon(dns_req *r) {
  if (r->done) {
    dns_free(r);
    return;
  }
  r->abandoned = 1;
  uv_cancel((uv_req_t *)&r->req);
}

/* Take the request from the guard at 'idx' (NULL if it has none any more). */
static dns_req *take(lua_State *L, int idx) {
  dns_guard *g = luaL_testudata(L, idx, DNS_GUARD_MT);
  dns_req *r = g ? g->r : NULL;
  if (g) g->r = NULL;
  return r;
}

static int guard_gc(lua_State *L) {
  if (luaL_testudata(L, 1, DNS_GUARD_MT) == NULL) gl_net_typeerror(L, 1, "__gc", "DNS request");
  dns_req *r = take(L, 1);
  if (r) abandon(r);
  return 0;
}

/* Killed or timed out by a Timeout: the guard is under the tag and value. */
static void resolve_cancel(lua_State *L) {
  dns_req *r = take(L, -3);
  if (r) abandon(r);
}

int gl_resolve(lua_State *L, const char *what, const char *host, int family,
               int socktype, double seconds, lua_KFunction k) {
  gl_check_block(L, what);  /* before starting what nobody could wait for */
  dns_guard *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->r = NULL;
  luaL_setmetatable(L, DNS_GUARD_MT);
  dns_req *r = calloc(1, sizeof *r);
  if (r == NULL) return gl_sock_fail(L, UV_ENOMEM);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = socktype;
  /* Unspecified: only families this host has addresses in. For a socket of
  ** one family that filter would only drop what it can use (loopback). */
  hints.ai_flags = family == AF_UNSPEC ? AI_ADDRCONFIG : family == AF_INET6 ? AI_V4MAPPED : 0;
  int err = uv_getaddrinfo(gl_H.loop, &r->req, on_resolved, host, NULL, &hints);
  if (err) {
    free(r);
    return gl_sock_fail(L, err);
  }
  g->r = r;
  return gl_block_cancel(L, what, &r->waiter, seconds, k, resolve_cancel);
}

struct addrinfo *gl_resolved(lua_State *L, int *err) {
  int timedout = lua_touserdata(L, -2) == GL_TIMEDOUT;
  dns_req *r = take(L, -3);
  lua_pop(L, 3);
  if (r == NULL) {  /* its guard was collected by hand (debug library) */
    *err = UV_ECANCELED;
    return NULL;
  }
  if (timedout) {
    abandon(r);
    *err = UV_ETIMEDOUT;
    return NULL;
  }
  assert(r->done);  /* only on_resolved wakes its waiter */
  struct addrinfo *res = r->res;
  *err = r->status ? r->status : res ? 0 : UV_EAI_NONAME;
  r->res = NULL;
  dns_free(r);
  if (*err && res) {
    uv_freeaddrinfo(res);
    res = NULL;
  }
  return res;
}

/* A numeric host asked for in 'family', answered without the resolver, as
** getaddrinfo would: an IPv4 address maps into IPv6, not the reverse. */
static int push_numeric(lua_State *L, int idx, int numeric, int family) {
  if (family == AF_INET && numeric == AF_INET6) return gl_sock_fail(L, UV_EAI_ADDRFAMILY);
  lua_createtable(L, 1, 0);
  if (family == AF_INET6 && numeric == AF_INET) {
    lua_pushliteral(L, "::ffff:");
    lua_pushvalue(L, idx);
    lua_concat(L, 2);
  } else {
    lua_pushvalue(L, idx);
  }
  lua_rawseti(L, -2, 1);
  return 1;
}

/* Frame: 1 host, then what gl_resolve pushed. */
static int getaddrinfo_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int err;
  struct addrinfo *res = gl_resolved(L, &err);
  if (res == NULL) return gl_sock_fail(L, err);
  lua_settop(L, 1);
  lua_newtable(L);  /* 2: the addresses */
  lua_newtable(L);  /* 3: those seen */
  int n = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    gl_push_address(L, a->ai_addr);
    lua_pop(L, 1);                    /* the port */
    lua_pushvalue(L, -1);
    if (lua_rawget(L, 3) != LUA_TNIL) {
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, 3);
    lua_rawseti(L, 2, ++n);
  }
  uv_freeaddrinfo(res);
  lua_settop(L, 2);
  return 1;
}

/* getaddrinfo(host [, family [, timeout]]) -> array of address strings, or
** nil, err. A numeric host comes back as it is, without switching. */
static int l_getaddrinfo(lua_State *L) {
  size_t len;
  if (lua_type(L, 1) != LUA_TSTRING) gl_net_typeerror(L, 1, "getaddrinfo", "string");
  const char *host = lua_tolstring(L, 1, &len);
  int family = gl_opt_family(L, 2, "getaddrinfo");
  double timeout = gl_net_opttimeout(L, 3, "getaddrinfo");
  if (strlen(host) != len) return gl_sock_fail(L, UV_EAI_NONAME);  /* a zero byte names nothing */
  struct sockaddr_storage ss;
  if (gl_parse_address(host, 0, &ss) == 0) return push_numeric(L, 1, ss.ss_family, family);
  lua_settop(L, 1);
  return gl_resolve(L, "getaddrinfo", host, family, SOCK_STREAM, timeout, getaddrinfo_k);
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
  int port = gl_check_port(L, 2, "tcp_connect");
  parse_or_raise(L, 1, "tcp_connect", port, &to);
  double timeout = gl_net_opttimeout(L, 3, "tcp_connect");
  int bind = !lua_isnoneornil(L, 4);
  if (bind) parse_or_raise(L, 4, "tcp_connect", lua_isnoneornil(L, 5) ? 0 : gl_check_port(L, 5, "tcp_connect"), &from);
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
  int bad = check_path(L, 1, "unix_connect", &path);
  double timeout = gl_net_opttimeout(L, 2, "unix_connect");
  if (bad) return gl_sock_fail(L, bad);
  gl_check_block(L, "connect_unix");
  lua_settop(L, 2);
  gl_sock *s = gl_sock_new(L, GL_PIPE, AF_UNSPEC);
  uv_pipe_connect(&s->io->connect_req, &s->io->h.pipe, path, on_connect);
  return await_connect(L, s, timeout);
}

/* ------------------------------------------------------------ adopting */

/* tcp_adopt(fd) -> sock | nil, err: a connected stream socket made
** elsewhere (LuaSocket's, for LuaSec's ssl.wrap) becomes a green socket.
** What is adopted is a duplicate: fd stays its owner's, who closes it
** (then the connection lives on in the green socket). A duplicate, never
** the fd itself, because nothing public tells whether libuv already owns
** an fd, and two handles on one fd would corrupt the loop. Refused (nil,
** err): the standard streams, and an fd that is not a stream socket of a
** family this module speaks. */
static int l_tcp_adopt(lua_State *L) {
  lua_Integer fd = gl_net_checkinteger(L, 1, "tcp_adopt");
  if (fd < 3 || fd > INT_MAX) {
    lua_pushnil(L);
    lua_pushliteral(L, "bad file descriptor");
    return 2;
  }
  int type = 0;
  struct sockaddr_storage ss;
  socklen_t tlen = sizeof type, slen = sizeof ss;
  if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0
      || getsockname((int)fd, (struct sockaddr *)&ss, &slen) < 0)
    return gl_sock_fail(L, uv_translate_sys_error(errno));
  int family = ss.ss_family;
  if (type != SOCK_STREAM || (family != AF_INET && family != AF_INET6 && family != AF_UNIX))
    return gl_sock_fail(L, UV_ENOTSUP);
  lua_settop(L, 1);
  gl_sock *s = gl_sock_new(L, family == AF_UNIX ? GL_PIPE : GL_TCP, AF_UNSPEC);
  int own = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
  int err = own < 0 ? uv_translate_sys_error(errno)
          : family == AF_UNIX ? uv_pipe_open(&s->io->h.pipe, own)
          : uv_tcp_open(&s->io->h.tcp, own);
  if (err) {
    if (own >= 0) close(own);
    gl_sock_release(s);
    return gl_sock_fail(L, err);
  }
  if (family != AF_UNIX) uv_tcp_nodelay(&s->io->h.tcp, 1);
  return 1;
}

/* ----------------------------------------------------------- listening */

/* SO_REUSEPORT must be set before bind, so the socket is made here rather
** than by libuv's bind; either way a failure (too many open files) is
** returned, not raised. */
static int open_reuseport(gl_sock *s, int family) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int on = 1;
  int err = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0
              ? uv_translate_sys_error(errno) : 0;
  if (err == 0) err = uv_tcp_open(&s->io->h.tcp, fd);
  if (err) close(fd);
  return err;
}

/* tcp_listen(ip, port [, backlog [, reuse_port]]) -> sock | nil, err */
static int l_tcp_listen(lua_State *L) {
  struct sockaddr_storage at;
  int port = gl_check_port(L, 2, "tcp_listen");
  parse_or_raise(L, 1, "tcp_listen", port, &at);
  int backlog = opt_int_range(L, 3, "tcp_listen", 128, 0, INT_MAX, "backlog out of range");
  int reuse_port = lua_toboolean(L, 4);
  lua_settop(L, 4);
  gl_sock *s = gl_sock_new(L, GL_TCP, AF_UNSPEC);
  int err = reuse_port ? open_reuseport(s, at.ss_family) : 0;
  if (err == 0) err = uv_tcp_bind(&s->io->h.tcp, (struct sockaddr *)&at, 0);
  if (err == 0) err = gl_sock_listen(s, backlog);
  if (err) {
    gl_sock_release(s);
    return gl_sock_fail(L, err);
  }
  return 1;
}

/* unix_listen(path [, backlog [, mode]]) -> sock | nil, err. With a mode,
** the socket file is created with it (umask), so it is never open wider. */
static int l_unix_listen(lua_State *L) {
  const char *path;
  int bad = check_path(L, 1, "unix_listen", &path);
  int backlog = opt_int_range(L, 2, "unix_listen", 128, 0, INT_MAX, "backlog out of range");
  int mode = opt_int_range(L, 3, "unix_listen", -1, 0, 0777, "mode out of range (0 to 0777)");
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
  /* checked here first so the error names peer_uid (socket.c's metatable name) */
  if (luaL_testudata(L, 1, "green.Socket") == NULL) gl_net_typeerror(L, 1, "peer_uid", "socket");
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
  const char *path;
  int bad = check_path(L, 1, "chmod", &path);
  int mode = opt_int_range(L, 2, "chmod", -1, 0, 07777, "mode out of range");
  if (mode < 0) gl_net_typeerror(L, 2, "chmod", "integer");
  if (bad == UV_EINVAL) return gl_sock_fail(L, bad);
  if (chmod(path, (mode_t)mode) < 0)
    return gl_sock_fail(L, uv_translate_sys_error(errno));
  lua_pushboolean(L, 1);
  return 1;
}

void gl_open_net(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"getaddrinfo", l_getaddrinfo}, {"tcp_connect", l_tcp_connect},
    {"unix_connect", l_unix_connect}, {"tcp_listen", l_tcp_listen},
    {"unix_listen", l_unix_listen}, {"peer_uid", l_peer_uid}, {"getuid", l_getuid}, {"getpid", l_getpid},
    {"chmod", l_chmod}, {"tcp_adopt", l_tcp_adopt}, {NULL, NULL}
  };
  luaL_setfuncs(L, functions, 0);
  luaL_newmetatable(L, DNS_GUARD_MT);
  lua_pushcfunction(L, guard_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");  /* getmetatable(guard) is false */
  lua_pop(L, 1);
}
