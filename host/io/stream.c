/*
** stream.c: a stream's life cycle, buffer and reading side: receive
** patterns, recv, the filter's handshake, deadlines and error strings, for
** any libuv stream. Writing is in stream_write.c. See stream.h.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "io/stream.h"

#define HIGH_WATER (256 * 1024)  /* stop reading past this many unread bytes */
#define KEEP (1024 * 1024)       /* a buffer larger than this shrinks when it empties:
                                 ** above what reading ahead (HIGH_WATER + a read) needs */
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
void gl_stream_wake(gl_waitq *q) {
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
  while (st->readers.head) gl_stream_wake(&st->readers);
  while (st->writers.head) gl_stream_wake(&st->writers);
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

/* After a burst: free an emptied buffer, or halve a big one mostly empty, so
** a long-lived connection does not pin its largest burst. Amortised linear:
** each shrink moves at most a quarter of the capacity it gives back. */
static void shrink(gl_stream *st) {
  /* emptied: a big one goes; so does a small one (reads land in read_area
  ** and are copied anyway), so an idle connection holds no buffer; one
  ** that bulk reads land in directly stays */
  if (st->len == 0 && (st->cap > KEEP || st->cap < sizeof read_area)) {
    free(st->buf);
    st->buf = NULL;
    st->cap = st->off = 0;
    return;
  }
  if (st->cap <= KEEP || st->len > st->cap / 4) return;
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
** so an idle or chatty connection never holds a big buffer. Either way at
** most 64 KB a read: reading ahead then never grows the buffer past what
** KEEP keeps, so only a reader that asked for more makes it shrink later. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  gl_stream *st = h->data;
  if (st && !st->filter && st->buf && st->cap - st->len >= sizeof read_area) {
    b->base = gl_stream_reserve(st, sizeof read_area);  /* room exists: no realloc */
    b->len = sizeof read_area;
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
  gl_stream_wake(&st->readers);
  /* a sender waits for the handshake, or for the peer (renegotiation) */
  if (st->filter && (st->wants_read || !st->filter->ready(st))) gl_stream_wake(&st->writers);
}

/* A reader needs more data: read, however much is buffered. */
void gl_stream_want_read(gl_stream *st) {
  if (st->reading || st->eof || st->read_err || st->h == NULL) return;
  int err = uv_read_start(st->h, on_alloc, on_read);
  if (err) st->read_err = err;
  else st->reading = 1;
}

/* Let the filter work before a reader or writer looks. Its failures are
** sticky (st->read_err): the bytes buffered before them are still read. */
int gl_stream_pump(gl_stream *st) {
  if (st->filter == NULL) return 0;
  int was_ready = st->filter->ready(st);
  int err = st->filter->pump(st);
  if (err == UV_EOF) {
    st->eof = 1;
    err = 0;
  } else if (err && !st->read_err) {
    st->read_err = err;
  }
  if (!was_ready && st->filter->ready(st)) gl_stream_wake(&st->writers);  /* it waited for the handshake */
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
  gl_stream_consume(st, n);
}

void gl_stream_consume(gl_stream *st, size_t n) {
  st->off += n;
  st->len -= n;
  st->scanned = st->scanned > n ? st->scanned - n : 0;
  if (st->len == 0) st->off = 0;
  shrink(st);
  if (st->len < HIGH_WATER) gl_stream_want_read(st);  /* read ahead again */
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
  gl_stream_pump(st);
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
  gl_stream_want_read(st);
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
  gl_stream_pump(st);
  if (st->len > 0) {
    size_t n = (size_t)lua_tointeger(L, 2);
    if (n > st->len) n = st->len;
    take(L, st, n, n, 0);
    return 1;
  }
  if (st->eof || st->read_err) return gl_stream_fail(L, st, st->read_err ? st->read_err : UV_EOF);
  if (st->readers.n > 0)
    return luaL_error(L, "recv: another green thread is reading this %s", st->noun);
  gl_stream_want_read(st);
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
  int err = gl_stream_pump(st);
  if (err) return gl_stream_fail(L, st, err);
  if (st->filter->ready(st)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (st->eof || st->read_err) return gl_stream_fail(L, st, st->read_err ? st->read_err : UV_EOF);
  if (st->readers.n > 0)
    return luaL_error(L, "handshake: another green thread is reading this %s", st->noun);
  gl_stream_want_read(st);
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

/* ------------------------------------------------------------ shutdown */

void gl_stream_shutdown_read(gl_stream *st) {
  stop_reading(st);
  st->eof = 1;
  gl_stream_wake(&st->readers);
}
