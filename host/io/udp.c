/*
** udp.c: green UDP sockets. Datagrams that arrive while nobody reads wait in
** a bounded queue (past it new ones are dropped, as a full kernel buffer
** would); receivefrom takes them in order. sendto sends at once when the
** kernel takes the datagram and waits for libuv otherwise; a host name is
** resolved in the socket's family, within the same deadline.
** Opened as part of "green.core" as core.udp_open(ip, port, reuse_addr)
** (ip nil: bind lazily on the first send); the Lua half resolves a name to
** bind to. SO_REUSEADDR only when asked: a port in use is an error.
** The libuv handle and each queued send are separate allocations that
** outlive the Lua object until libuv lets go of them.
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "io/net.h"
#include "io/socket.h"

#define UDP_MT "green.UdpSocket"
#define QUEUE_MAX 1024

typedef struct gl_udp gl_udp;

typedef struct udp_io {
  uv_udp_t h;
  gl_udp *owner;
} udp_io;

typedef struct datagram {
  struct datagram *next;
  struct sockaddr_storage from;
  size_t n;
  char data[];
} datagram;

/* A datagram libuv sends for us: its handle's allocation outlives the Lua
** object until the close callback, and libuv calls on_sent (cancelled)
** before that, so 'io' is always valid there. */
typedef struct udp_send {
  uv_udp_send_t req;
  udp_io *io;
  char data[];
} udp_send;

struct gl_udp {
  udp_io *io;
  datagram *head, *tail;
  size_t count;
  int receiving, recv_err, closed, send_status, family;
  udp_send *sending;   /* the datagram a blocked sendto waits for, or NULL */
  double timeout;
  gl_waitq readers, writers;
};

static const void *udp_mt;
static char recv_area[65536];

/* No datagram is larger (IPv6 jumbograms aside); refusing more up front
** also keeps the length within libuv's unsigned int buffers. */
#define DATAGRAM_MAX 65535

/* The UDP socket at 1 for the method or metamethod 'fn', raising if it is
** something else. */
static gl_udp *to_udp(lua_State *L, const char *fn) {
  if (gl_udata_meta(L, 1) != udp_mt) gl_net_typeerror(L, 1, fn, "UDP socket");
  return lua_touserdata(L, 1);
}

/* ...and open. */
static gl_udp *check_udp(lua_State *L, const char *what) {
  gl_udp *u = to_udp(L, what);
  if (u->io == NULL) luaL_error(L, "%s: the socket is closed", what);
  return u;
}

/* The socket's address family once it has one (bound, or bound by libuv
** on the first send or receive), else AF_UNSPEC. */
static int udp_family(gl_udp *u) {
  if (u->family == AF_UNSPEC && u->io) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_udp_getsockname(&u->io->h, (struct sockaddr *)&ss, &len) == 0) u->family = ss.ss_family;
  }
  return u->family;
}

/* ------------------------------------------------------------ receiving */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h, (void)suggested;
  buf->base = recv_area;
  buf->len = sizeof recv_area;
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags) {
  (void)flags;
  gl_udp *u = ((udp_io *)h)->owner;
  if (u == NULL || (n == 0 && from == NULL)) return;
  if (n < 0) {
    u->recv_err = (int)n;
  } else if (u->count < QUEUE_MAX) {
    datagram *d = malloc(sizeof *d + (size_t)n);
    if (d == NULL) return;
    d->next = NULL;
    d->n = (size_t)n;
    memcpy(d->data, buf->base, (size_t)n);
    memcpy(&d->from, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in));
    if (u->tail) u->tail->next = d; else u->head = d;
    u->tail = d;
    u->count++;
  }
  if (u->readers.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &u->readers);
  }
}

/* Frame: 1 sock, 2 max, 3 deadline. */
static int receivefrom_k(lua_State *L, int status, lua_KContext ctx);

static int receivefrom_step(lua_State *L) {
  gl_udp *u = lua_touserdata(L, 1);
  if (u->closed) return gl_sock_fail(L, UV_ECANCELED);
  datagram *d = u->head;
  if (d) {
    size_t max = (size_t)lua_tointeger(L, 2);
    lua_pushlstring(L, d->data, d->n < max ? d->n : max);  /* may raise: unlink after */
    gl_push_address(L, (struct sockaddr *)&d->from);
    u->head = d->next;
    if (u->head == NULL) u->tail = NULL;
    u->count--;
    free(d);
    return 3;
  }
  if (u->recv_err) {
    int err = u->recv_err;
    u->recv_err = 0;
    return gl_sock_fail(L, err);
  }
  if (u->readers.n > 0)
    return luaL_error(L, "receivefrom: another green thread is reading this socket");
  if (!u->receiving) {
    int err = uv_udp_recv_start(&u->io->h, on_alloc, on_recv);
    if (err) return gl_sock_fail(L, err);
    u->receiving = 1;
  }
  lua_settop(L, 3);
  return gl_block(L, "receivefrom", &u->readers, gl_time_left(L, 3), receivefrom_k);
}

static int receivefrom_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 3)) return gl_sock_fail(L, UV_ETIMEDOUT);
  return receivefrom_step(L);
}

/* u:receivefrom([max]) -> data, ip, port */
static int l_receivefrom(lua_State *L) {
  gl_udp *u = check_udp(L, "receivefrom");
  lua_Integer max = lua_isnoneornil(L, 2) ? 65536 : gl_net_checkinteger(L, 2, "receivefrom");
  if (max <= 0) gl_net_argerror(L, 2, "receivefrom", "must be positive");
  lua_settop(L, 1);
  lua_pushinteger(L, max);
  lua_pushnumber(L, gl_deadline(u->timeout));
  return receivefrom_step(L);
}

/* -------------------------------------------------------------- sending */

static void on_sent(uv_udp_send_t *req, int status) {
  udp_send *s = (udp_send *)req;
  gl_udp *u = s->io->owner;
  int waited_for = u != NULL && u->sending == s;
  free(s);
  if (!waited_for) return;  /* the socket went, or its sender stopped waiting */
  u->sending = NULL;
  u->send_status = status;
  if (u->writers.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &u->writers);
  }
}

/* sendto's frame: 1 sock, 2 data, 3 host, 4 port, 5 deadline. */
static int sendto_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_udp *u = lua_touserdata(L, 1);
  int timedout = gl_timed_out(L, 5);
  if (u->closed) return gl_sock_fail(L, UV_ECANCELED);
  if (timedout) {
    u->sending = NULL;  /* it may still go out; the next sendto queues behind it */
    return gl_sock_fail(L, UV_ETIMEDOUT);
  }
  if (u->send_status) return gl_sock_fail(L, u->send_status);
  lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 2));
  return 1;
}

/* Killed, or a Timeout, while libuv still holds the datagram. */
static void sendto_cancel(lua_State *L) {
  gl_udp *u = lua_touserdata(L, 1);
  u->sending = NULL;
}

/* Send the frame's data to 'to': at once if the kernel takes it, else
** through libuv (a copy), waiting until the deadline. */
static int send_now(lua_State *L, gl_udp *u, const struct sockaddr *to) {
  size_t n;
  const char *data = lua_tolstring(L, 2, &n);
  if (u->io == NULL) return gl_sock_fail(L, UV_ECANCELED);  /* closed while resolving */
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int done = uv_udp_try_send(&u->io->h, &b, 1, to);
  if (done >= 0) {
    lua_pushinteger(L, done);
    return 1;
  }
  if (done != UV_EAGAIN) return gl_sock_fail(L, done);
  if (u->writers.n > 0)
    return luaL_error(L, "sendto: another green thread is sending on this socket");
  udp_send *s = malloc(sizeof *s + n);
  if (s == NULL) return gl_sock_fail(L, UV_ENOMEM);
  s->io = u->io;
  memcpy(s->data, data, n);
  b = uv_buf_init(s->data, (unsigned)n);
  int err = uv_udp_send(&s->req, &u->io->h, &b, 1, to, on_sent);
  if (err) {
    free(s);
    return gl_sock_fail(L, err);
  }
  u->sending = s;
  u->send_status = 0;
  lua_settop(L, 5);
  return gl_block_cancel(L, "sendto", &u->writers, gl_time_left(L, 5), sendto_k, sendto_cancel);
}

/* The first address of an answer to use for a socket of 'family': with no
** family yet, the first IPv4 one if any (where "localhost" is ::1 first, a
** peer on 127.0.0.1 is what is meant), else the first. */
static const struct addrinfo *pick(const struct addrinfo *res, int family) {
  const struct addrinfo *first = NULL;
  for (const struct addrinfo *a = res; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    if (family != AF_UNSPEC || a->ai_family == AF_INET) return a;
    if (first == NULL) first = a;
  }
  return first;
}

/* Frame: sendto's, then what gl_resolve pushed. */
static int sendto_resolved_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int err;
  struct addrinfo *res = gl_resolved(L, &err);
  gl_udp *u = lua_touserdata(L, 1);
  if (u->closed) err = UV_ECANCELED;  /* closed while resolving: say so, whatever the answer */
  if (err) {
    if (res) uv_freeaddrinfo(res);
    return gl_sock_fail(L, err);
  }
  const struct addrinfo *a = pick(res, u->family);
  struct sockaddr_storage to;
  if (a == NULL || a->ai_addrlen > sizeof to) {
    uv_freeaddrinfo(res);
    return gl_sock_fail(L, UV_EAI_NONAME);
  }
  memset(&to, 0, sizeof to);
  memcpy(&to, a->ai_addr, a->ai_addrlen);
  uv_freeaddrinfo(res);
  in_port_t port = htons((in_port_t)lua_tointeger(L, 4));
  if (to.ss_family == AF_INET) ((struct sockaddr_in *)&to)->sin_port = port;
  else ((struct sockaddr_in6 *)&to)->sin6_port = port;
  return send_now(L, u, (struct sockaddr *)&to);
}

/* u:sendto(data, host, port) -> bytes sent, or nil, err. A host name is
** resolved in the socket's family, within the socket's timeout. */
static int l_sendto(lua_State *L) {
  gl_udp *u = check_udp(L, "sendto");
  size_t n, hlen;
  gl_net_checkstring(L, 2, "sendto", &n);
  if (lua_type(L, 3) != LUA_TSTRING) gl_net_typeerror(L, 3, "sendto", "string");  /* 127 is no host */
  const char *host = lua_tolstring(L, 3, &hlen);
  int port = gl_check_port(L, 4, "sendto");
  lua_settop(L, 4);
  lua_pushnumber(L, gl_deadline(u->timeout));
  if (n > DATAGRAM_MAX) return gl_sock_fail(L, UV_EMSGSIZE);
  struct sockaddr_storage to;
  if (gl_parse_address(host, port, &to) == 0) return send_now(L, u, (struct sockaddr *)&to);
  if (strlen(host) != hlen) return gl_sock_fail(L, UV_EAI_NONAME);  /* a zero byte names nothing */
  return gl_resolve(L, "sendto", host, udp_family(u), SOCK_DGRAM, gl_time_left(L, 5),
                    sendto_resolved_k);
}

/* ------------------------------------------------------- the rest of it */

static void on_udp_close(uv_handle_t *h) {
  free(h);
}

static void release(gl_udp *u) {
  if (u->io == NULL) return;
  u->sending = NULL;
  u->io->owner = NULL;
  uv_close((uv_handle_t *)&u->io->h, on_udp_close);
  u->io = NULL;
  while (u->head) {
    datagram *d = u->head;
    u->head = d->next;
    free(d);
  }
  u->tail = NULL;
  u->count = 0;
}

static int l_close(lua_State *L) {
  gl_udp *u = to_udp(L, "close");
  if (u->io == NULL) return 0;
  u->closed = 1;
  while (u->readers.head) {
    lua_pushnil(L);
    gl_wake_one(L, &u->readers);
  }
  while (u->writers.head) {
    lua_pushnil(L);
    gl_wake_one(L, &u->writers);
  }
  release(u);
  return 0;
}

static int l_gc(lua_State *L) {
  release(to_udp(L, "__gc"));
  return 0;
}

/* u:getsockname() -> ip, port; a socket not bound yet is "0.0.0.0", 0 */
static int l_getsockname(lua_State *L) {
  gl_udp *u = check_udp(L, "getsockname");
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int err = uv_udp_getsockname(&u->io->h, (struct sockaddr *)&ss, &len);
  if (err && udp_family(u) == AF_UNSPEC) {
    lua_pushliteral(L, "0.0.0.0");
    lua_pushinteger(L, 0);
    return 2;
  }
  if (err) return gl_sock_fail(L, err);
  return gl_push_address(L, (struct sockaddr *)&ss);
}

/* u:settimeout(seconds): per operation; nil (or negative) for none */
static int l_settimeout(lua_State *L) {
  gl_udp *u = to_udp(L, "settimeout");
  double t = -1;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TNUMBER) gl_net_typeerror(L, 2, "settimeout", "number");
    t = lua_tonumber(L, 2);
    if (t != t) gl_net_argerror(L, 2, "settimeout", "timeout is NaN");
  }
  u->timeout = t < 0 ? -1 : t;
  lua_pushboolean(L, 1);
  return 1;
}

static int l_tostring(lua_State *L) {
  gl_udp *u = to_udp(L, "__tostring");
  lua_pushfstring(L, "udp socket (%s)", u->io ? "open" : "closed");
  return 1;
}

/* udp_open([ip, port [, reuse_addr]]) -> socket, or nil, err */
static int l_udp_open(lua_State *L) {
  struct sockaddr_storage at;
  int bind = !lua_isnoneornil(L, 1);
  if (bind) {
    int port = lua_isnoneornil(L, 2) ? 0 : gl_check_port(L, 2, "udp_open");
    if (lua_type(L, 1) != LUA_TSTRING) gl_net_typeerror(L, 1, "udp_open", "string");
    if (gl_parse_address(lua_tostring(L, 1), port, &at) != 0)
      return gl_net_argerror(L, 1, "udp_open", "not a numeric address");
  }
  unsigned flags = lua_toboolean(L, 3) ? UV_UDP_REUSEADDR : 0;
  gl_udp *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  u->timeout = -1;
  luaL_setmetatable(L, UDP_MT);
  udp_io *io = calloc(1, sizeof *io);
  if (io == NULL) return gl_sock_fail(L, UV_ENOMEM);
  int err = uv_udp_init_ex(gl_H.loop, &io->h, bind ? at.ss_family : AF_UNSPEC);
  if (err) {
    free(io);
    return gl_sock_fail(L, err);
  }
  io->owner = u;
  u->io = io;
  if (bind && (err = uv_udp_bind(&io->h, (struct sockaddr *)&at, flags)) != 0) {
    release(u);
    return gl_sock_fail(L, err);
  }
  if (bind) u->family = at.ss_family;
  return 1;
}

void gl_open_udp(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"sendto", l_sendto}, {"receivefrom", l_receivefrom}, {"getsockname", l_getsockname},
    {"settimeout", l_settimeout}, {"close", l_close}, {NULL, NULL}
  };
  lua_pushcfunction(L, l_udp_open);
  lua_setfield(L, -2, "udp_open");
  luaL_newmetatable(L, UDP_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  udp_mt = lua_topointer(L, -1);
  lua_pop(L, 1);
}
