/*
** socket.c: the stream socket object: buffering, receive patterns, send,
** close, accept, options. Creating and connecting sockets is in net.c.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "io/socket.h"
#include "io/tls.h"

#define SOCKET_MT "green.Socket"
#define HIGH_WATER (256 * 1024)  /* stop reading past this many unread bytes */

static const void *socket_mt;
static char read_area[64 * 1024];  /* libuv reads here; on_read copies out */

/* ------------------------------------------------------------- helpers */

const char *gl_sock_strerror(int err) {
  switch (err) {
    case UV_EOF: case UV_ECONNRESET: case UV_ECONNABORTED: case UV_EPIPE:
    case UV_ENOTCONN: case UV_ECANCELED: case UV_EBADF:
      return "closed";
    case UV_ETIMEDOUT: return "timeout";
    case UV_ECONNREFUSED: return "connection refused";
    case UV_EADDRINUSE: return "address already in use";
    case UV_EADDRNOTAVAIL: return "address not available";
    case UV_EACCES: case UV_EPERM: return "permission denied";
    case UV_ENETUNREACH: return "network unreachable";
    case UV_EHOSTUNREACH: return "host unreachable";
    case UV_ENOENT: return "no such file or directory";
    case UV_EAI_NONAME: return "host or service not known";
    case UV_EAI_AGAIN: return "temporary failure in name resolution";
    case UV_ENOMEM: return "not enough memory";
    case GL_ETLS: return "tls error";
    default: return uv_strerror(err);  /* unknown codes would leak: all are known here */
  }
}

int gl_sock_fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, gl_sock_strerror(err));
  return 2;
}

double gl_time_left(lua_State *L, int idx) {
  double deadline = lua_tonumber(L, idx);
  if (deadline < 0) return -1;
  double left = deadline - (double)uv_hrtime() / 1e9;
  return left > 0 ? left : 0;
}

static gl_sock *to_sock(lua_State *L, int idx) {
  return gl_udata_meta(L, idx) == socket_mt ? lua_touserdata(L, idx) : NULL;
}

gl_sock *gl_sock_check(lua_State *L, int idx, const char *what) {
  gl_sock *s = to_sock(L, idx);
  if (s == NULL) luaL_typeerror(L, idx, "socket");
  if (s->io == NULL) luaL_error(L, "%s: the socket is closed", what);
  return s;
}

static void on_close(uv_handle_t *h) {
  free(h->data);  /* the gl_io: h->data points at it */
}

/* Let go of libuv: the handle closes in the background. */
void gl_sock_release(gl_sock *s) {
  if (s->io == NULL) return;
  if (s->tls) gl_tls_free(s);
  s->io->owner = NULL;
  uv_close(&s->io->h.handle, on_close);
  s->io = NULL;
  free(s->buf);
  s->buf = NULL;
  s->off = s->len = s->cap = 0;
}

static void wake_all(lua_State *L, gl_waitq *q) {
  while (q->head) {
    lua_pushnil(L);
    gl_wake_one(L, q);
  }
}

gl_sock *gl_sock_new(lua_State *L, int kind, int family) {
  gl_sock *s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  s->kind = kind;
  s->timeout = -1;
  luaL_setmetatable(L, SOCKET_MT);
  gl_io *io = calloc(1, sizeof *io);
  if (io == NULL) luaL_error(L, "not enough memory");
  int err = kind == GL_TCP ? uv_tcp_init_ex(gl_H.loop, &io->h.tcp, (unsigned)family)
                           : uv_pipe_init(gl_H.loop, &io->h.pipe, 0);
  if (err) {
    free(io);
    luaL_error(L, "socket: %s", uv_strerror(err));
  }
  io->h.handle.data = io;
  io->owner = s;
  s->io = io;
  return s;
}

/* -------------------------------------------------------------- reading */

char *gl_sock_reserve(gl_sock *s, size_t n) {
  if (s->off > 0 && s->off + s->len + n > s->cap) {  /* slide to the front */
    memmove(s->buf, s->buf + s->off, s->len);
    s->off = 0;
  }
  if (s->len + n > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->len + n) cap *= 2;
    char *buf = realloc(s->buf, cap);
    if (buf == NULL) return NULL;
    s->buf = buf;
    s->cap = cap;
  }
  return s->buf + s->off + s->len;
}

int gl_sock_append(gl_sock *s, const char *data, size_t n) {
  char *to = gl_sock_reserve(s, n);
  if (to == NULL) return UV_ENOMEM;
  memcpy(to, data, n);
  s->len += n;
  return 0;
}

void gl_sock_wake_readers(gl_sock *s) {
  if (s->readers.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &s->readers);
  }
}

/* libuv reads straight into the socket's buffer when it has a lot of room
** already (a bulk transfer grew it), saving a copy; otherwise into a shared
** area, so an idle or chatty connection never holds a big buffer. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  gl_sock *s = ((gl_io *)h->data)->owner;
  if (s && !s->tls && s->buf && s->cap - s->len >= sizeof read_area) {
    buf->base = gl_sock_reserve(s, sizeof read_area);
    buf->len = s->cap - s->off - s->len;
    return;
  }
  buf->base = read_area;
  buf->len = sizeof read_area;
}

static void stop_reading(gl_sock *s) {
  if (s->reading && s->io) uv_read_stop(&s->io->h.stream);
  s->reading = 0;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  gl_sock *s = ((gl_io *)stream->data)->owner;
  if (s == NULL || n == 0) return;
  if (n > 0 && buf->base != read_area) {  /* read in place */
    s->len += (size_t)n;
  } else if (n > 0) {
    int err = s->tls ? gl_tls_feed(s, buf->base, (size_t)n)
                     : gl_sock_append(s, buf->base, (size_t)n);
    if (err) {
      s->read_err = err;
      stop_reading(s);
    }
  } else if (n == UV_EOF) {
    s->eof = 1;
    if (s->tls) gl_tls_feed(s, NULL, 0);
    stop_reading(s);
  } else {
    s->read_err = (int)n;
    stop_reading(s);
  }
  /* Nobody is waiting for more: stop while the buffer is full. A waiting
  ** reader needs more than it has (a long line, say): keep going. */
  if (s->len >= HIGH_WATER && s->readers.n == 0) stop_reading(s);
  gl_sock_wake_readers(s);
  if (s->tls && (!gl_tls_done(s) || gl_tls_write_wants_read(s)) && s->writers.head) {
    /* a sender waits for the handshake or a renegotiation */
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &s->writers);
  }
}

/* A reader needs more data: read, however much is buffered. */
void gl_sock_want_read(gl_sock *s) {
  if (s->reading || s->eof || s->read_err || s->io == NULL) return;
  int err = uv_read_start(&s->io->h.stream, on_alloc, on_read);
  if (err) s->read_err = err;
  else s->reading = 1;
}

/* Take n buffered bytes: push them (after 'prefix' at 'pidx', if any). */
static void take(lua_State *L, gl_sock *s, size_t n, size_t keep, int pidx) {
  if (pidx && !lua_isnoneornil(L, pidx)) {
    lua_pushvalue(L, pidx);
    lua_pushlstring(L, s->buf + s->off, keep);
    lua_concat(L, 2);
  } else {
    lua_pushlstring(L, s->buf + s->off, keep);
  }
  s->off += n;
  s->len -= n;
  if (s->len == 0) s->off = 0;
  if (s->len < HIGH_WATER && s->readers.n == 0 && !s->reading && s->buf) gl_sock_want_read(s);
}

/* The pattern of a receive: a line, everything, or a byte count. */
enum { LINE, ALL, COUNT };

/* receive's frame: 1 sock, 2 pattern, 3 prefix, 4 deadline. */
static int receive_k(lua_State *L, int status, lua_KContext ctx);

static int receive_step(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  if (s->closed) return gl_sock_fail(L, UV_ECANCELED);
  int kind = LINE;
  lua_Integer count = 0;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    kind = COUNT;
    count = lua_tointeger(L, 2);
  } else {
    const char *p = lua_tostring(L, 2);
    if (p[0] == '*') p++;
    kind = p[0] == 'a' ? ALL : LINE;
  }
  if (s->tls) {
    int err = gl_tls_pump(s);
    if (err) return gl_tls_fail(L, s, err);
  }
  const char *data = s->buf ? s->buf + s->off : NULL;
  if (kind == LINE) {
    const char *nl = s->len ? memchr(data, '\n', s->len) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - data) + 1, keep = n - 1;
      if (keep > 0 && data[keep - 1] == '\r') keep--;
      take(L, s, n, keep, 3);
      return 1;
    }
  } else if (kind == COUNT) {
    if ((lua_Integer)s->len >= count) {
      take(L, s, (size_t)count, (size_t)count, 3);
      return 1;
    }
  }
  if (s->eof || s->read_err) {
    if (kind == ALL && (s->eof || s->read_err == UV_ECONNRESET)) {
      take(L, s, s->len, s->len, 3);
      return 1;
    }
    gl_tls_fail(L, s, s->read_err ? s->read_err : UV_EOF);
    take(L, s, s->len, s->len, 3);  /* the partial result */
    return 3;
  }
  if (s->readers.n > 0)
    return luaL_error(L, "receive: another green thread is reading this socket");
  gl_sock_want_read(s);
  double left = gl_time_left(L, 4);
  lua_settop(L, 4);
  return gl_block(L, "receive", &s->readers, left, receive_k);
}

static int receive_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_touserdata(L, -2) == GL_TIMEDOUT) {
    gl_sock *s = lua_touserdata(L, 1);
    lua_settop(L, 4);
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    take(L, s, s->len, s->len, 3);  /* the partial result, consumed */
    return 3;
  }
  lua_settop(L, 4);
  return receive_step(L);
}

int gl_timed_out(lua_State *L, int top) {
  int timedout = lua_touserdata(L, -2) == GL_TIMEDOUT;
  lua_settop(L, top);
  return timedout;
}

double gl_deadline(double timeout) {
  return timeout < 0 ? -1 : (double)uv_hrtime() / 1e9 + timeout;
}

/* sock:receive([pattern [, prefix]]) */
static int l_receive(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "receive");
  lua_settop(L, 3);
  if (lua_isnil(L, 2)) {
    lua_pushliteral(L, "*l");
    lua_replace(L, 2);
  } else if (lua_type(L, 2) == LUA_TNUMBER) {
    luaL_argcheck(L, lua_isinteger(L, 2) && lua_tointeger(L, 2) >= 0, 2, "byte count must be a non-negative integer");
  } else {
    const char *p = luaL_checkstring(L, 2);
    if (*p == '*') p++;
    luaL_argcheck(L, (p[0] == 'l' || p[0] == 'a') && p[1] == '\0', 2, "invalid pattern (\"*l\", \"*a\" or a number)");
  }
  if (!lua_isnoneornil(L, 3)) luaL_checkstring(L, 3);
  lua_settop(L, 3);
  lua_pushnumber(L, gl_deadline(s->timeout));
  return receive_step(L);
}

/* recv's frame: 1 sock, 2 max, 3 deadline. */
static int recv_k(lua_State *L, int status, lua_KContext ctx);

static int recv_step(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  if (s->closed) return gl_sock_fail(L, UV_ECANCELED);
  if (s->tls) {
    int err = gl_tls_pump(s);
    if (err) return gl_tls_fail(L, s, err);
  }
  if (s->len > 0) {
    size_t n = (size_t)lua_tointeger(L, 2);
    if (n > s->len) n = s->len;
    take(L, s, n, n, 0);
    return 1;
  }
  if (s->eof || s->read_err) return gl_tls_fail(L, s, s->read_err ? s->read_err : UV_EOF);
  if (s->readers.n > 0)
    return luaL_error(L, "recv: another green thread is reading this socket");
  gl_sock_want_read(s);
  double left = gl_time_left(L, 3);
  lua_settop(L, 3);
  return gl_block(L, "recv", &s->readers, left, recv_k);
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 3)) return gl_sock_fail(L, UV_ETIMEDOUT);
  return recv_step(L);
}

/* sock:recv([max]) -> up to max bytes as soon as any arrive */
static int l_recv(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "recv");
  lua_Integer max = luaL_optinteger(L, 2, 65536);
  luaL_argcheck(L, max > 0, 2, "must be positive");
  lua_settop(L, 1);
  lua_pushinteger(L, max);
  lua_pushnumber(L, gl_deadline(s->timeout));
  return recv_step(L);
}

/* -------------------------------------------------------------- writing */

static void on_write(uv_write_t *req, int status) {
  gl_io *io = (gl_io *)((char *)req - offsetof(gl_io, write_req));
  gl_sock *s = io->owner;
  if (s == NULL) return;
  s->writing = 0;
  s->write_status = status;
  if (s->writers.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &s->writers);
  }
}

int gl_sock_write_raw(lua_State *L, gl_sock *s, int sidx, const char *data, size_t n) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int done = uv_try_write(&s->io->h.stream, &b, 1);
  if (done == UV_EAGAIN || done == UV_ENOSYS) done = 0;
  if (done < 0 || (size_t)done == n) return done;
  b = uv_buf_init((char *)data + done, (unsigned)(n - (size_t)done));
  int err = uv_write(&s->io->write_req, &s->io->h.stream, &b, 1, on_write);
  if (err) return err;
  lua_pushvalue(L, sidx);                 /* keep the bytes alive for libuv */
  lua_setiuservalue(L, lua_absindex(L, 1), GL_SOCK_UV_WRITING);
  s->writing = 1;
  return done;
}

/* send's frame: 1 sock, 2 data, 3 deadline, 4 bytes sent at once, 5 state
** (0: waiting for an earlier write, 1: waiting for ours). */
static int send_k(lua_State *L, int status, lua_KContext ctx);

static int send_step(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  if (s->closed) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    lua_pushinteger(L, lua_tointeger(L, 4));
    return 3;
  }
  int state = (int)lua_tointeger(L, 5);
  if (!s->writing && state == 1) {            /* our queued write is done */
    int err = s->write_status;
    lua_pushnil(L);
    lua_setiuservalue(L, 1, GL_SOCK_UV_WRITING);
    if (err) {
      lua_pushnil(L);
      lua_pushstring(L, gl_sock_strerror(err));
      lua_pushinteger(L, lua_tointeger(L, 4));
      return 3;
    }
    lua_pushinteger(L, (lua_Integer)len);
    return 1;
  }
  if (!s->writing && s->tls && !gl_tls_done(s)) {  /* handshake first */
    int err = gl_tls_pump(s);
    if (err == 0 && !gl_tls_done(s)) {
      if (s->eof || s->read_err) err = s->read_err ? s->read_err : UV_EOF;
      else {
        /* wait among the writers: data for the handshake wakes them too,
        ** so a reader may wait for its own data at the same time */
        gl_sock_want_read(s);
        double left = gl_time_left(L, 3);
        lua_settop(L, 5);
        return gl_block(L, "send", &s->writers, left, send_k);
      }
    }
    if (err) {
      int n = gl_tls_fail(L, s, err);
      lua_pushinteger(L, 0);
      return n + 1;
    }
  }
  if (!s->writing) {                          /* our turn: write now */
    int done = s->tls ? gl_tls_write(L, s, 2, data, len)
                      : gl_sock_write_raw(L, s, 2, data, len);
    if (done == GL_EWANTREAD) {  /* TLS renegotiation: wait for the peer */
      gl_sock_want_read(s);
      /* data from the peer wakes it; it also looks again every 50 ms, so
      ** no order of OpenSSL's reads and writes can leave it stuck */
      double left = gl_time_left(L, 3);
      lua_settop(L, 5);
      return gl_block(L, "send", &s->writers, left < 0 || left > 0.05 ? 0.05 : left, send_k);
    }
    if (done < 0) {
      gl_tls_fail(L, s, done);
      lua_pushinteger(L, 0);
      return 3;
    }
    if (!s->writing) {
      lua_pushinteger(L, (lua_Integer)len);
      return 1;
    }
    lua_pushinteger(L, done);
    lua_replace(L, 4);
    lua_pushinteger(L, 1);
    lua_replace(L, 5);
  }
  double left = gl_time_left(L, 3);
  lua_settop(L, 5);
  return gl_block(L, "send", &s->writers, left, send_k);
}

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int timedout = lua_touserdata(L, -2) == GL_TIMEDOUT;
  lua_settop(L, 5);
  if (timedout && gl_time_left(L, 3) != 0) timedout = 0;  /* a retry slice, not the deadline */
  if (timedout) {
    /* What libuv queued cannot be taken back: it still goes out, and the
    ** next send waits for it. So all of it counts as sent: a caller that
    ** resends from 'sent' must not send it twice. Only while waiting for an
    ** earlier write (state 0) was nothing of ours committed. */
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    lua_pushinteger(L, lua_tointeger(L, 5) == 1 ? (lua_Integer)lua_rawlen(L, 2) : 0);
    return 3;
  }
  return send_step(L);
}

/* sock:send(data) -> bytes sent, or nil, err, sent */
static int l_send(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "send");
  luaL_checkstring(L, 2);
  if (s->listening) return luaL_error(L, "send: the socket is listening");
  if (s->writers.n > 0) return luaL_error(L, "send: another green thread is sending on this socket");
  if (s->shut_send) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    lua_pushinteger(L, 0);
    return 3;
  }
  lua_settop(L, 2);
  lua_pushnumber(L, gl_deadline(s->timeout));
  lua_pushinteger(L, 0);
  lua_pushinteger(L, 0);
  return send_step(L);
}

/* ------------------------------------------------------------ accepting */

static void on_connection(uv_stream_t *server, int status) {
  gl_sock *s = ((gl_io *)server->data)->owner;
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

/* Push ip, port of a TCP peer or of the socket itself. */
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

static int accept_step(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  if (s->closed) return gl_sock_fail(L, UV_ECANCELED);
  if (s->pending > 0) {
    gl_sock *c = gl_sock_new(L, s->kind, AF_UNSPEC);
    int err = uv_accept(&s->io->h.stream, &c->io->h.stream);
    s->pending--;
    if (err) {
      gl_sock_release(c);
      return gl_sock_fail(L, err);
    }
    if (s->kind == GL_TCP) uv_tcp_nodelay(&c->io->h.tcp, 1);
    int client = lua_gettop(L);
    if (s->tls) gl_tls_accepted(L, 1, client);
    if (s->kind != GL_TCP) return 1;
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
  lua_pushnumber(L, gl_deadline(s->timeout));
  return accept_step(L);
}

/* ------------------------------------------------------- the rest of it */

static int l_close(lua_State *L) {
  gl_sock *s = to_sock(L, 1);
  if (s == NULL) return luaL_typeerror(L, 1, "socket");
  if (s->io == NULL) return 0;
  s->closed = 1;
  wake_all(L, &s->readers);
  wake_all(L, &s->writers);
  wake_all(L, &s->acceptors);
  wake_all(L, &s->connectors);
  gl_sock_release(s);
  lua_pushnil(L);
  lua_setiuservalue(L, 1, GL_SOCK_UV_WRITING);
  return 0;
}

static int l_gc(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  gl_sock_release(s);
  return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)req, (void)status;
}

/* sock:shutdown([how]) with how "send", "receive" or "both" (default) */
static int l_shutdown(lua_State *L) {
  static const char *const hows[] = {"both", "send", "receive", NULL};
  gl_sock *s = gl_sock_check(L, 1, "shutdown");
  int how = luaL_checkoption(L, 2, "both", hows);
  if (how != 1) {  /* receive: read no more */
    stop_reading(s);
    s->eof = 1;
    gl_sock_wake_readers(s);
  }
  if (how != 2 && !s->shut_send) {
    s->shut_send = 1;
    if (s->tls) gl_tls_close_notify(L, s);
    int err = uv_shutdown(&s->io->shutdown_req, &s->io->h.stream, on_shutdown);
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

/* sock:settimeout(seconds): per operation; nil (or negative) for none */
static int l_settimeout(lua_State *L) {
  gl_sock *s = to_sock(L, 1);
  if (s == NULL) return luaL_typeerror(L, 1, "socket");
  s->timeout = lua_isnoneornil(L, 2) ? -1 : luaL_checknumber(L, 2);
  if (s->timeout < 0) s->timeout = -1;
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:setoption(name, value) */
static int l_setoption(lua_State *L) {
  static const char *const names[] = {"tcp-nodelay", "keepalive", "reuseaddr", "linger", NULL};
  gl_sock *s = gl_sock_check(L, 1, "setoption");
  int opt = luaL_checkoption(L, 2, NULL, names);
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
          struct linger lg = { on, on ? (int)luaL_optinteger(L, 4, 0) : 0 };
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
  gl_sock *s = to_sock(L, 1);
  const char *kind = s->kind == GL_TCP ? "tcp" : "unix";
  const char *state = s->io == NULL ? "closed" : s->listening ? "listening" : "connected";
  lua_pushfstring(L, "%s socket (%s%s)", kind, state, s->tls ? ", tls" : "");
  return 1;
}

/* is_closed(sock) -> true once close() was called (for serve) */
static int l_is_closed(lua_State *L) {
  gl_sock *s = to_sock(L, 1);
  if (s == NULL) return luaL_typeerror(L, 1, "socket");
  lua_pushboolean(L, s->io == NULL);
  return 1;
}

void gl_open_socket(lua_State *L) {
  lua_pushcfunction(L, l_is_closed);
  lua_setfield(L, -2, "is_closed");
  static const luaL_Reg methods[] = {
    {"receive", l_receive}, {"recv", l_recv}, {"send", l_send},
    {"accept", l_accept}, {"close", l_close}, {"shutdown", l_shutdown},
    {"getpeername", l_getpeername}, {"getsockname", l_getsockname},
    {"settimeout", l_settimeout}, {"setoption", l_setoption},
    {NULL, NULL}
  };
  luaL_newmetatable(L, SOCKET_MT);
  luaL_newlib(L, methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "SocketMethods");  /* the Lua half adds handshake, ... */
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  socket_mt = lua_topointer(L, -1);
  lua_pop(L, 1);
}
