/*
** stream_write.c: a stream's writing side: send with back-pressure, in
** pieces libuv's lengths can hold, through the filter when there is one;
** the wire writer filters use; shutdown of the sending side. See stream.h.
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "io/stream.h"

#define WIRE_HIGH (64 * 1024)    /* a filtered send waits while this much is queued */
#define RETRY_SLICE 0.05         /* a send waiting for the peer looks again this often */

/* A write libuv could not take at once: bytes of the caller's (a plaintext
** send: 'copy' 0, the string is anchored) or a copy (a filter's output). */
typedef struct wire_req {
  uv_write_t req;
  size_t n;
  char data[];
} wire_req;

static void on_write(uv_write_t *req, int status) {
  wire_req *w = (wire_req *)req;
  gl_stream *st = req->handle->data;
  size_t n = w->n;
  free(w);
  if (st == NULL) return;  /* detached: nobody waits */
  st->queued -= n;
  if (status < 0 && !st->write_err) st->write_err = status;
  /* a sender waits for all of it to go, or for room to encrypt more */
  if (st->queued <= st->wake_at || st->write_err) gl_stream_wake(&st->writers);
}

/* Hand n bytes to uv_write, copied or not. 0 or an error. */
static int queue_write(gl_stream *st, const char *data, size_t n, int copy) {
  wire_req *w = malloc(sizeof *w + (copy ? n : 0));
  if (w == NULL) return UV_ENOMEM;
  w->n = n;
  if (copy) {
    memcpy(w->data, data, n);
    data = w->data;
  }
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);  /* n <= GL_STREAM_PIECE */
  int err = uv_write(&w->req, st->h, &b, 1, on_write);
  if (err) {
    free(w);
    return err;
  }
  st->queued += n;
  return 0;
}

/* Write what the kernel takes now: bytes written (>= 0) or an error. */
static int try_write(gl_stream *st, const char *data, size_t n) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);  /* n <= GL_STREAM_PIECE */
  int done = uv_try_write(st->h, &b, 1);
  return done == UV_EAGAIN || done == UV_ENOSYS ? 0 : done;
}

int gl_stream_write_now(gl_stream *st, const char *data, size_t n) {
  if (st->h == NULL || st->filter || st->queued || st->writers.n || st->shut_send ||
      st->write_err || n > GL_STREAM_PIECE)
    return 0;
  return try_write(st, data, n);
}

int gl_stream_wire(gl_stream *st, const char *data, size_t n) {
  if (st->h == NULL) return UV_ECANCELED;
  while (n > 0) {
    size_t piece = n < GL_STREAM_PIECE ? n : GL_STREAM_PIECE;
    size_t done = 0;
    if (st->queued == 0) {  /* else libuv would refuse: order matters */
      int r = try_write(st, data, piece);
      if (r < 0) return r;
      done = (size_t)r;
    }
    if (done < piece) {
      int err = queue_write(st, data + done, piece - done, 1);
      if (err) return err;
    }
    data += piece;
    n -= piece;
  }
  return 0;
}

/* send's frame: 1 stream, 2 data, 3 deadline, 4 bytes sent, 5 bytes this
** send queued in libuv (written from the string, not yet confirmed). */
static int send_k(lua_State *L, int status, lua_KContext ctx);

static int send_timeout(lua_State *L);

static int send_wait(lua_State *L, gl_stream *st, size_t wake_at, double slice) {
  st->wake_at = wake_at;
  double left = gl_time_left(L, 3);
  lua_settop(L, 5);
  if (left == 0) return send_timeout(L);
  if (slice > 0 && (left < 0 || left > slice)) left = slice;
  return gl_block(L, "send", &st->writers, left, send_k);
}

static int send_fail(lua_State *L, gl_stream *st, int err, size_t sent) {
  gl_stream_fail(L, st, err);
  lua_pushinteger(L, (lua_Integer)sent);
  return 3;
}

/* Through a filter: encrypt and write 64 KB (four TLS records) at a time,
** waiting while the wire is backed up: memory stays bounded whatever the
** size, and nothing is encrypted that the wire cannot take soon. */
static int send_filtered(lua_State *L, gl_stream *st, const char *data, size_t len, size_t sent) {
  if (!st->filter->ready(st)) {  /* the handshake first */
    int err = gl_stream_pump(st);
    if (err) return send_fail(L, st, err, sent);
    if (!st->filter->ready(st)) {
      if (st->eof || st->read_err) return send_fail(L, st, st->read_err ? st->read_err : UV_EOF, sent);
      /* wait among the writers: data for the handshake wakes them too, so
      ** a reader may wait for its own data at the same time */
      gl_stream_want_read(st);
      return send_wait(L, st, 0, 0);
    }
  }
  while (sent < len) {
    if (st->queued >= WIRE_HIGH) return send_wait(L, st, WIRE_HIGH / 2, 0);
    size_t n = len - sent < GL_FILTER_CHUNK ? len - sent : GL_FILTER_CHUNK;
    size_t had = st->len;
    int r = st->filter->write(st, data + sent, n);
    if (st->len != had) gl_stream_wake(&st->readers);  /* it decrypted what a reader waits for */
    if (r == GL_EWANTREAD) {  /* renegotiation: wait for the peer */
      st->wants_read = 1;
      gl_stream_want_read(st);
      /* data from the peer wakes it; it also looks again now and then, so
      ** no order of the filter's reads and writes can leave it stuck */
      return send_wait(L, st, 0, RETRY_SLICE);
    }
    st->wants_read = 0;
    if (r < 0) return send_fail(L, st, r, sent);
    sent += (size_t)r;
    lua_pushinteger(L, (lua_Integer)sent);
    lua_replace(L, 4);
  }
  /* like a plain send, return once the kernel has it all: a close() right
  ** after must not cancel what libuv still holds */
  if (st->queued > 0) return send_wait(L, st, 0, 0);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

/* Plain: from the string itself, in pieces libuv's int and unsigned
** lengths can hold; what the kernel does not take at once is written by
** libuv from the anchored string while the sender waits. */
static int send_plain(lua_State *L, gl_stream *st, const char *data, size_t len, size_t sent) {
  while (sent < len) {
    size_t n = len - sent < GL_STREAM_PIECE ? len - sent : GL_STREAM_PIECE;
    int done = try_write(st, data + sent, n);
    if (done < 0) return send_fail(L, st, done, sent);
    sent += (size_t)done;
    if ((size_t)done < n) {
      size_t rest = n - (size_t)done;
      int err = queue_write(st, data + sent, rest, 0);
      if (err) return send_fail(L, st, err, sent);
      lua_pushvalue(L, 2);  /* keep the bytes alive for libuv, whatever becomes of us */
      lua_setiuservalue(L, 1, GL_STREAM_UV_WRITING);
      st->anchored = 1;
      lua_pushinteger(L, (lua_Integer)sent);
      lua_replace(L, 4);
      lua_pushinteger(L, (lua_Integer)rest);
      lua_replace(L, 5);
      return send_wait(L, st, 0, 0);
    }
  }
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

static int send_step(lua_State *L) {
  gl_stream *st = lua_touserdata(L, 1);
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  size_t sent = (size_t)lua_tointeger(L, 4), pending = (size_t)lua_tointeger(L, 5);
  if (st->h == NULL) return send_fail(L, st, UV_ECANCELED, sent);
  if (st->write_err) return send_fail(L, st, st->write_err, sent);
  if (st->queued > 0 && (pending > 0 || !st->filter))
    return send_wait(L, st, 0, 0);  /* ours, or an earlier send's, still going */
  if (pending > 0) {  /* ours went out */
    sent += pending;
    lua_pushinteger(L, (lua_Integer)sent);
    lua_replace(L, 4);
    lua_pushinteger(L, 0);
    lua_replace(L, 5);
  }
  if (st->anchored && st->queued == 0) {  /* libuv is done with the string */
    lua_pushnil(L);
    lua_setiuservalue(L, 1, GL_STREAM_UV_WRITING);
    st->anchored = 0;
  }
  return st->filter ? send_filtered(L, st, data, len, sent) : send_plain(L, st, data, len, sent);
}

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int timedout = lua_touserdata(L, -2) == GL_TIMEDOUT;
  lua_settop(L, 5);
  if (timedout && gl_time_left(L, 3) != 0) timedout = 0;  /* a retry slice, not the deadline */
  if (timedout) return send_timeout(L);
  return send_step(L);
}

/* What libuv queued cannot be taken back: it still goes out, and the next
** send waits for it. So it counts as sent: a caller that resends from
** 'sent' must not send it twice. */
static int send_timeout(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "timeout");
  lua_pushinteger(L, lua_tointeger(L, 4) + lua_tointeger(L, 5));
  return 3;
}

/* sock:send(data) -> bytes sent, or nil, err, sent */
int gl_stream_send(lua_State *L, gl_stream *st) {
  luaL_checkstring(L, 2);
  if (st->writers.n > 0)
    return luaL_error(L, "send: another green thread is sending on this %s", st->noun);
  if (st->shut_send) return send_fail(L, st, UV_EPIPE, 0);
  lua_settop(L, 2);
  lua_pushnumber(L, gl_deadline(st->timeout));
  lua_pushinteger(L, 0);
  lua_pushinteger(L, 0);
  return send_step(L);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

int gl_stream_shutdown_send(gl_stream *st) {
  if (st->shut_send || st->h == NULL) return 0;
  st->shut_send = 1;
  if (st->filter) st->filter->shutdown(st);
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req == NULL) return UV_ENOMEM;
  int err = uv_shutdown(req, st->h, on_shutdown);
  if (err) free(req);
  return err;
}
