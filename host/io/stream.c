/*
** stream.c: buffering, receive patterns, send with back-pressure, deadlines
** and waiters for any libuv stream. See stream.h for the contract.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "io/stream.h"

#define HIGH_WATER (256 * 1024)  /* stop reading past this many unread bytes */
#define KEEP (256 * 1024)        /* a buffer larger than this shrinks when it empties */
#define WIRE_HIGH (64 * 1024)    /* a filtered send waits while this much is queued */
#define RETRY_SLICE 0.05         /* a send waiting for the peer looks again this often */
#define MAX_TIMEOUT 1e9          /* longer timeouts (31 years) mean none */

static char read_area[64 * 1024];  /* libuv reads here when the buffer is small */

/* ------------------------------------------------------------- errors */

const char *gl_strerror(int err) {
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
    case GL_EFILTER: return "filter error";
    case GL_ELINE: return "line too long";
    default: return uv_strerror(err);
  }
}

int gl_stream_fail(lua_State *L, gl_stream *st, int err) {
  lua_pushnil(L);
  if (err == GL_EFILTER && st && st->filter && st->filter->error)
    lua_pushstring(L, st->filter->error(st));
  else
    lua_pushstring(L, gl_strerror(err));
  return 2;
}

/* ----------------------------------------------------------- deadlines */

double gl_deadline(double timeout) {
  return timeout < 0 ? -1 : (double)uv_hrtime() / 1e9 + timeout;
}

double gl_time_left(lua_State *L, int idx) {
  double deadline = lua_tonumber(L, idx);
  if (deadline < 0) return -1;
  double left = deadline - (double)uv_hrtime() / 1e9;
  return left > 0 ? left : 0;
}

int gl_timed_out(lua_State *L, int top) {
  int timedout = lua_touserdata(L, -2) == GL_TIMEDOUT;
  lua_settop(L, top);
  return timedout;
}

/* sock:settimeout(seconds): per operation; nil or negative: none. */
int gl_stream_settimeout(lua_State *L, gl_stream *st) {
  double t = -1;
  if (!lua_isnoneornil(L, 2)) {
    t = luaL_checknumber(L, 2);
    luaL_argcheck(L, !isnan(t), 2, "timeout is NaN");
    if (t < 0 || t > MAX_TIMEOUT) t = -1;
  }
  st->timeout = t;
  lua_pushboolean(L, 1);
  return 1;
}

/* ----------------------------------------------------------- life cycle */

/* Wake the first waiter in q, if any. Pushes and pops a nil only: safe in
** libuv callbacks (nothing allocates). */
static void wake(gl_waitq *q) {
  if (q->head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, q);
  }
}

void gl_stream_init(gl_stream *st, uv_stream_t *h, const char *noun) {
  memset(st, 0, sizeof *st);
  st->h = h;
  st->noun = noun;
  st->timeout = -1;
  h->data = st;
}

static void stop_reading(gl_stream *st) {
  if (st->reading && st->h) uv_read_stop(st->h);
  st->reading = 0;
}

void gl_stream_detach(gl_stream *st) {
  if (st->h == NULL) return;
  if (st->filter) {
    const gl_filter *f = st->filter;
    f->free(st);  /* may still write a goodbye: before the handle goes */
    st->filter = NULL;
    st->fctx = NULL;
  }
  stop_reading(st);
  st->h->data = NULL;
  st->h = NULL;
  free(st->buf);
  st->buf = NULL;
  st->off = st->len = st->cap = st->scanned = 0;
}

void gl_stream_wake_all(gl_stream *st) {
  while (st->readers.head) wake(&st->readers);
  while (st->writers.head) wake(&st->writers);
}

/* -------------------------------------------------------------- buffer */

char *gl_stream_reserve(gl_stream *st, size_t n) {
  if (st->off > 0 && st->off + st->len + n > st->cap) {  /* slide to the front */
    memmove(st->buf, st->buf + st->off, st->len);
    st->off = 0;
  }
  if (st->len + n > st->cap) {
    size_t cap = st->cap ? st->cap : 1024;
    while (cap < st->len + n) cap *= 2;
    char *buf = realloc(st->buf, cap);
    if (buf == NULL) return NULL;
    st->buf = buf;
    st->cap = cap;
  }
  return st->buf + st->off + st->len;
}

void gl_stream_commit(gl_stream *st, size_t n) {
  st->len += n;
}

/* After a burst: free an emptied big buffer, or halve one mostly empty, so
** a long-lived connection does not pin its largest burst. Amortised linear:
** each shrink moves at most a quarter of the capacity it gives back. */
static void shrink(gl_stream *st) {
  if (st->cap <= KEEP) return;
  if (st->len == 0) {
    free(st->buf);
    st->buf = NULL;
    st->cap = st->off = 0;
    return;
  }
  if (st->len > st->cap / 4) return;
  size_t cap = KEEP;
  while (cap < 2 * st->len) cap *= 2;
  memmove(st->buf, st->buf + st->off, st->len);
  st->off = 0;
  char *buf = realloc(st->buf, cap);
  if (buf) {
    st->buf = buf;
    st->cap = cap;
  }
}

/* ------------------------------------------------------------- reading */

/* libuv reads straight into the buffer when it has a lot of room already
** (a bulk transfer grew it), saving a copy; otherwise into a shared area,
** so an idle or chatty connection never holds a big buffer. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  gl_stream *st = h->data;
  if (st && !st->filter && st->buf && st->cap - st->len >= sizeof read_area) {
    b->base = gl_stream_reserve(st, sizeof read_area);  /* room exists: no realloc */
    b->len = st->cap - st->off - st->len;
    return;
  }
  b->base = read_area;
  b->len = sizeof read_area;
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b) {
  gl_stream *st = h->data;
  if (st == NULL || n == 0) return;
  int err = 0;
  if (n > 0 && b->base != read_area) {
    st->len += (size_t)n;                   /* read in place */
  } else if (n > 0) {
    if (st->filter) {
      err = st->filter->feed(st, b->base, (size_t)n);
    } else {
      char *to = gl_stream_reserve(st, (size_t)n);
      if (to == NULL) err = UV_ENOMEM;
      else {
        memcpy(to, b->base, (size_t)n);
        st->len += (size_t)n;
      }
    }
  } else if (n == UV_EOF) {
    err = UV_EOF;
    if (st->filter) {
      int ferr = st->filter->feed(st, NULL, 0);
      if (ferr && ferr != UV_EOF) err = ferr;
    }
  } else {
    err = (int)n;
  }
  if (err == UV_EOF) st->eof = 1;
  else if (err) st->read_err = err;
  if (err) stop_reading(st);
  /* Nobody is waiting for more: stop while the buffer is full. A waiting
  ** reader needs more than it has (a long line, say): keep going. */
  if (st->len >= HIGH_WATER && st->readers.n == 0) stop_reading(st);
  wake(&st->readers);
  /* a sender waits for the handshake, or for the peer (renegotiation) */
  if (st->filter && (st->wants_read || !st->filter->ready(st))) wake(&st->writers);
}

/* A reader needs more data: read, however much is buffered. */
static void want_read(gl_stream *st) {
  if (st->reading || st->eof || st->read_err || st->h == NULL) return;
  int err = uv_read_start(st->h, on_alloc, on_read);
  if (err) st->read_err = err;
  else st->reading = 1;
}

/* Let the filter work before a reader or writer looks. Its failures are
** sticky (st->read_err): the bytes buffered before them are still read. */
static int pump(gl_stream *st) {
  if (st->filter == NULL) return 0;
  int was_ready = st->filter->ready(st);
  int err = st->filter->pump(st);
  if (err == UV_EOF) {
    st->eof = 1;
    err = 0;
  } else if (err && !st->read_err) {
    st->read_err = err;
  }
  if (!was_ready && st->filter->ready(st)) wake(&st->writers);  /* it waited for the handshake */
  return err;
}

/* Take n buffered bytes, pushing the first 'keep' of them (after the
** prefix at 'pidx', if any). */
static void take(lua_State *L, gl_stream *st, size_t n, size_t keep, int pidx) {
  const char *data = st->buf ? st->buf + st->off : "";
  if (pidx && !lua_isnoneornil(L, pidx)) {
    lua_pushvalue(L, pidx);
    lua_pushlstring(L, data, keep);
    lua_concat(L, 2);
  } else {
    lua_pushlstring(L, data, keep);
  }
  st->off += n;
  st->len -= n;
  st->scanned = st->scanned > n ? st->scanned - n : 0;
  if (st->len == 0) st->off = 0;
  shrink(st);
  if (st->len < HIGH_WATER) want_read(st);  /* read ahead again */
}

/* receive's frame: 1 stream, 2 what (a count >= 0, or LINE, ALL), 3 prefix,
** 4 deadline. */
enum { LINE = -1, ALL = -2 };
static int receive_k(lua_State *L, int status, lua_KContext ctx);

/* Out of time: nil, "timeout", and the partial result, consumed. (A
** deadline that has passed already times out here, without blocking: the
** hub would arm a timer that is due at once.) */
static int receive_timeout(lua_State *L, gl_stream *st) {
  lua_pushnil(L);
  lua_pushliteral(L, "timeout");
  take(L, st, st->len, st->len, 3);
  return 3;
}

/* A line: the bytes before the next LF (and a CR before it). Searches only
** what it has not searched before: a long line arriving in small pieces is
** scanned once. Returns 1 (pushed), 0 (not yet), -1 (too long). */
static int take_line(lua_State *L, gl_stream *st) {
  const char *data = st->buf + st->off;
  const char *nl = memchr(data + st->scanned, '\n', st->len - st->scanned);
  if (nl == NULL) {
    st->scanned = st->len;
    /* even if the next byte is LF and the last a CR, it would be too long */
    return st->max_line && st->len > st->max_line + 1 ? -1 : 0;
  }
  size_t n = (size_t)(nl - data) + 1, keep = n - 1;
  if (keep > 0 && data[keep - 1] == '\r') keep--;
  if (st->max_line && keep > st->max_line) {
    st->scanned = n - 1;  /* stays put: the same line is refused again */
    return -1;
  }
  take(L, st, n, keep, 3);
  return 1;
}

static int receive_step(lua_State *L) {
  gl_stream *st = lua_touserdata(L, 1);
  if (st->h == NULL) return gl_stream_fail(L, st, UV_ECANCELED);
  lua_Integer what = lua_tointeger(L, 2);
  pump(st);
  if (what == LINE && st->len > 0) {
    int r = take_line(L, st);
    if (r > 0) return 1;
    if (r < 0) return gl_stream_fail(L, st, GL_ELINE);  /* nothing consumed */
  } else if (what >= 0 && st->len >= (size_t)what) {
    take(L, st, (size_t)what, (size_t)what, 3);
    return 1;
  }
  if (st->eof || st->read_err) {
    if (what == ALL && (st->read_err == 0 || st->read_err == UV_ECONNRESET)) {
      take(L, st, st->len, st->len, 3);
      return 1;
    }
    gl_stream_fail(L, st, st->read_err ? st->read_err : UV_EOF);
    take(L, st, st->len, st->len, 3);  /* the partial result */
    return 3;
  }
  if (st->readers.n > 0)
    return luaL_error(L, "receive: another green thread is reading this %s", st->noun);
  want_read(st);
  double left = gl_time_left(L, 4);
  lua_settop(L, 4);
  if (left == 0) return receive_timeout(L, st);
  return gl_block(L, "receive", &st->readers, left, receive_k);
}

static int receive_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 4)) return receive_timeout(L, lua_touserdata(L, 1));
  return receive_step(L);
}

/* An integer argument: integral floats count (4.0), as luaL_checkinteger. */
static lua_Integer check_count(lua_State *L, int idx, const char *what) {
  int isnum;
  lua_Integer n = lua_tointegerx(L, idx, &isnum);
  if (!isnum || n < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a non-negative integer", what));
  return n;
}

/* sock:receive([pattern [, prefix]]) */
int gl_stream_receive(lua_State *L, gl_stream *st) {
  lua_Integer what = LINE;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    what = check_count(L, 2, "byte count");
  } else if (!lua_isnoneornil(L, 2)) {
    const char *p = luaL_checkstring(L, 2);
    if (*p == '*') p++;
    luaL_argcheck(L, (p[0] == 'l' || p[0] == 'a') && p[1] == '\0', 2,
                  "invalid pattern (\"*l\", \"*a\" or a number)");
    what = p[0] == 'a' ? ALL : LINE;
  }
  if (!lua_isnoneornil(L, 3)) luaL_checkstring(L, 3);
  lua_settop(L, 3);
  lua_pushinteger(L, what);
  lua_replace(L, 2);
  lua_pushnumber(L, gl_deadline(st->timeout));
  return receive_step(L);
}

/* recv's frame: 1 stream, 2 max, 3 deadline. */
static int recv_k(lua_State *L, int status, lua_KContext ctx);

static int recv_step(lua_State *L) {
  gl_stream *st = lua_touserdata(L, 1);
  if (st->h == NULL) return gl_stream_fail(L, st, UV_ECANCELED);
  pump(st);
  if (st->len > 0) {
    size_t n = (size_t)lua_tointeger(L, 2);
    if (n > st->len) n = st->len;
    take(L, st, n, n, 0);
    return 1;
  }
  if (st->eof || st->read_err) return gl_stream_fail(L, st, st->read_err ? st->read_err : UV_EOF);
  if (st->readers.n > 0)
    return luaL_error(L, "recv: another green thread is reading this %s", st->noun);
  want_read(st);
  double left = gl_time_left(L, 3);
  lua_settop(L, 3);
  if (left == 0) return gl_stream_fail(L, NULL, UV_ETIMEDOUT);
  return gl_block(L, "recv", &st->readers, left, recv_k);
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 3)) return gl_stream_fail(L, NULL, UV_ETIMEDOUT);
  return recv_step(L);
}

/* sock:recv([max]) -> up to max bytes as soon as any arrive */
int gl_stream_recv(lua_State *L, gl_stream *st) {
  lua_Integer max = lua_isnoneornil(L, 2) ? 65536 : check_count(L, 2, "max");
  luaL_argcheck(L, max > 0, 2, "must be positive");
  lua_settop(L, 1);
  lua_pushinteger(L, max);
  lua_pushnumber(L, gl_deadline(st->timeout));
  return recv_step(L);
}

/* sock:handshake(): wait until the filter is ready. Frame: 1 stream, 2 deadline. */
static int handshake_k(lua_State *L, int status, lua_KContext ctx);

static int handshake_step(lua_State *L) {
  gl_stream *st = lua_touserdata(L, 1);
  if (st->h == NULL || st->filter == NULL) return gl_stream_fail(L, st, UV_ECANCELED);
  int err = pump(st);
  if (err) return gl_stream_fail(L, st, err);
  if (st->filter->ready(st)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (st->eof || st->read_err) return gl_stream_fail(L, st, st->read_err ? st->read_err : UV_EOF);
  if (st->readers.n > 0)
    return luaL_error(L, "handshake: another green thread is reading this %s", st->noun);
  want_read(st);
  double left = gl_time_left(L, 2);
  lua_settop(L, 2);
  if (left == 0) return gl_stream_fail(L, NULL, UV_ETIMEDOUT);
  return gl_block(L, "handshake", &st->readers, left, handshake_k);
}

static int handshake_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 2)) return gl_stream_fail(L, NULL, UV_ETIMEDOUT);
  return handshake_step(L);
}

int gl_stream_handshake(lua_State *L, gl_stream *st) {
  lua_settop(L, 1);
  lua_pushnumber(L, gl_deadline(st->timeout));
  return handshake_step(L);
}

/* ------------------------------------------------------------- writing */

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
  if (st->queued <= st->wake_at || st->write_err) wake(&st->writers);
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

/* Through a filter: encrypt and write a record at a time, waiting while
** the wire is backed up, so memory stays bounded whatever the size. */
static int send_filtered(lua_State *L, gl_stream *st, const char *data, size_t len, size_t sent) {
  if (!st->filter->ready(st)) {  /* the handshake first */
    int err = pump(st);
    if (err) return send_fail(L, st, err, sent);
    if (!st->filter->ready(st)) {
      if (st->eof || st->read_err) return send_fail(L, st, st->read_err ? st->read_err : UV_EOF, sent);
      /* wait among the writers: data for the handshake wakes them too, so
      ** a reader may wait for its own data at the same time */
      want_read(st);
      return send_wait(L, st, 0, 0);
    }
  }
  while (sent < len) {
    if (st->queued >= WIRE_HIGH) return send_wait(L, st, WIRE_HIGH / 2, 0);
    size_t n = len - sent < GL_FILTER_CHUNK ? len - sent : GL_FILTER_CHUNK;
    size_t had = st->len;
    int r = st->filter->write(st, data + sent, n);
    if (st->len != had) wake(&st->readers);  /* it decrypted what a reader waits for */
    if (r == GL_EWANTREAD) {  /* renegotiation: wait for the peer */
      st->wants_read = 1;
      want_read(st);
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

/* ------------------------------------------------------------ shutdown */

void gl_stream_shutdown_read(gl_stream *st) {
  stop_reading(st);
  st->eof = 1;
  wake(&st->readers);
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
