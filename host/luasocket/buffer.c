/*
** buffer.c: receive, send, getstats, setstats, dirty of the stream
** objects (tcp, unix stream), as 3.1.0's buffer.c, restartable.
**
** Contract (the reference: Debian's LuaSocket under lua5.4):
**  - receive(pattern, prefix): "*l" (default; any pattern starting "*l":
**    a line, CRs dropped, LF or CRLF ends it), "*a" (to the end; nil,
**    "closed" only if nothing at all came), a number n (n bytes, less
**    what the prefix already holds: a prefix at least n long is returned
**    alone, with no I/O). On an error or timeout: nil, err, partial (the
**    prefix and what came), and what came is consumed.
**  - send(data, i, j) -> last index sent, or nil, err, last index sent;
**    i and j as string.sub's (clamped), STEPSIZE bytes per system call.
**  - stats count bytes as LuaSocket does: received = bytes consumed by
**    receive (CR, LF included), sent = bytes written; floats.
**  - Restartable: the bytes a pattern waits on stay in the object's buffer
**    (it grows past LuaSocket's 8 KiB when a pattern needs more), so a
**    receive that waited and runs again finds them; send keeps its progress
**    in s->wdone. The call's start (for timeouts) is s->rstart / s->wstart.
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "core/hub.h"
#include "luasocket/lsock.h"

void gl_ls_buf_init(gl_ls_buf *b) {
  memset(b, 0, sizeof *b);
  b->birthday = gl_ls_gettime();
}

void gl_ls_buf_free(gl_ls_buf *b) {
  free(b->data);
  b->data = NULL;
  b->first = b->last = b->cap = b->scan = 0;
}

static size_t avail(const gl_ls_buf *b) {
  return b->last - b->first;
}

static void consume(gl_ls_buf *b, size_t n) {
  b->received += (double)n;
  b->first += n;
  b->scan = 0;
  if (b->first >= b->last) b->first = b->last = 0;
}

/* Room for GL_LS_BUFSIZE more bytes at the end: 0, or -1 (no memory). */
static int room(gl_ls_buf *b) {
  if (b->first > 0 && b->cap - b->last < GL_LS_BUFSIZE) {
    memmove(b->data, b->data + b->first, avail(b));
    b->last -= b->first;
    b->first = 0;
  }
  if (b->cap - b->last >= GL_LS_BUFSIZE) return 0;
  size_t cap = b->cap ? b->cap : GL_LS_BUFSIZE;
  while (cap - b->last < GL_LS_BUFSIZE) {
    if (cap > SIZE_MAX / 2) return -1;
    cap *= 2;
  }
  char *d = realloc(b->data, cap);
  if (d == NULL) return -1;
  b->data = d;
  b->cap = cap;
  return 0;
}

/* One recv into the buffer: LS_DONE (got some), EAGAIN, LS_CLOSED or an errno. */
static int fill(lua_State *L, gl_lsock *s) {
  if (s->fd < 0) return LS_CLOSED;
  if (room(&s->buf) != 0) luaL_error(L, "not enough memory");
  for (;;) {
    ssize_t n = recv(s->fd, s->buf.data + s->buf.last, GL_LS_BUFSIZE, 0);
    if (n > 0) {
      s->buf.last += (size_t)n;
      return LS_DONE;
    }
    if (n == 0) return LS_CLOSED;
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? EAGAIN : errno;
  }
}

/* ---------------------------------------------------------------- receive */

enum { PAT_LINE, PAT_ALL, PAT_COUNT };

/* The pattern at 2: its kind and, for a count, how many bytes. */
static int pattern(lua_State *L, size_t *wanted) {
  if (!lua_isnumber(L, 2)) {
    const char *p = luaL_optstring(L, 2, "*l");
    if (p[0] == '*' && p[1] == 'l') return PAT_LINE;
    if (p[0] == '*' && p[1] == 'a') return PAT_ALL;
    luaL_argcheck(L, 0, 2, "invalid receive pattern");
  }
  double n = lua_tonumber(L, 2);
  luaL_argcheck(L, n >= 0, 2, "invalid receive pattern");
  *wanted = n >= (double)SIZE_MAX ? SIZE_MAX : (size_t)n;
  return PAT_COUNT;
}

/* Push prefix .. the first n buffered bytes (CRs dropped for a line),
** consuming 'used' bytes. */
static void push_part(lua_State *L, gl_lsock *s, size_t n, size_t used, int line) {
  size_t plen;
  const char *prefix = lua_tolstring(L, 3, &plen);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (plen) luaL_addlstring(&b, prefix, plen);
  const char *d = s->buf.data ? s->buf.data + s->buf.first : "";
  if (!line) {
    luaL_addlstring(&b, d, n);
  } else {
    size_t i = 0;
    while (i < n) {
      const char *cr = memchr(d + i, '\r', n - i);
      size_t stop = cr ? (size_t)(cr - d) : n;
      luaL_addlstring(&b, d + i, stop - i);
      i = stop + 1;
    }
  }
  luaL_pushresult(&b);
  consume(&s->buf, used);
}

/* The results of a receive that failed with 'err': nil, err, partial. */
static int fail(lua_State *L, gl_lsock *s, int kind, int err) {
  size_t n = avail(&s->buf);
  if (kind == PAT_ALL && err == LS_CLOSED && n > 0) {
    push_part(L, s, n, n, 0);
    lua_pushnil(L);
    lua_pushnil(L);
    return 3;
  }
  push_part(L, s, n, n, kind == PAT_LINE);
  lua_pushnil(L);
  lua_pushstring(L, gl_ls_strerror(err));
  lua_rotate(L, -3, -1);  /* nil err partial */
  return 3;
}

static int done(lua_State *L) {
  lua_pushnil(L);
  lua_pushnil(L);
  return 3;
}

static int do_receive(lua_State *L, gl_lsock *s, lua_KFunction k) {
  size_t wanted = 0, plen = 0;
  int kind = pattern(L, &wanted);
  if (lua_type(L, 3) == LUA_TSTRING || lua_type(L, 3) == LUA_TNUMBER) lua_tolstring(L, 3, &plen);
  gl_ls_buf *b = &s->buf;
  int first = 1;
  for (;;) {
    size_t n = avail(b);
    if (kind == PAT_LINE && n > b->scan) {
      const char *d = b->data + b->first;
      const char *nl = memchr(d + b->scan, '\n', n - b->scan);
      if (nl) {
        push_part(L, s, (size_t)(nl - d), (size_t)(nl - d) + 1, 1);
        return done(L);
      }
      b->scan = n;
    } else if (kind == PAT_COUNT) {
      if (plen > 0 && wanted <= plen) {  /* the prefix alone */
        lua_pushvalue(L, 3);
        return done(L);
      }
      size_t need = wanted - plen;
      if (n >= need && (need > 0 || !first)) {
        push_part(L, s, need, need, 0);
        return done(L);
      }
      if (need == 0 && n > 0) {  /* receive(0): LuaSocket reads only if nothing is buffered */
        push_part(L, s, 0, 0, 0);
        return done(L);
      }
    }
    int err = fill(L, s);
    first = 0;
    if (err == LS_DONE) continue;
    if (err != EAGAIN) return fail(L, s, kind, err);
    if (s->tm.block == 0.0) return fail(L, s, kind, LS_TIMEOUT);
    double t = gl_ls_retry(&s->tm, s->rstart);
    if (t == 0.0) return fail(L, s, kind, LS_TIMEOUT);
    return gl_ls_wait(L, s, GL_LS_R, t, "receive", k);
  }
}

int gl_ls_receive(lua_State *L, gl_lsock *s, lua_KFunction k) {
  luaL_optlstring(L, 3, "", NULL);
  lua_settop(L, 3);
  s->rstart = gl_ls_gettime();
  s->buf.scan = 0;
  return do_receive(L, s, k);
}

int gl_ls_receive_k(lua_State *L, gl_lsock *s, lua_KFunction k) {
  int r = gl_ls_waited(L);
  if (r != LS_DONE) {
    size_t wanted;
    return fail(L, s, pattern(L, &wanted), r);
  }
  return do_receive(L, s, k);
}

/* ---------------------------------------------------------------- send */

/* data, i, j at 2..4 as the byte range [*from, *from + *count). */
static const char *send_range(lua_State *L, size_t *from, size_t *count) {
  size_t size;
  const char *data = luaL_checklstring(L, 2, &size);
  lua_Number ni = luaL_optnumber(L, 3, 1), nj = luaL_optnumber(L, 4, -1);
  /* LuaSocket casts to long; clamp first so no cast overflows */
  double lim = 9.0e18;
  long start = (long)(ni != ni ? 0 : ni < -lim ? -lim : ni > lim ? lim : ni);
  long end = (long)(nj != nj ? 0 : nj < -lim ? -lim : nj > lim ? lim : nj);
  if (start < 0) start = (long)size + start + 1;
  if (end < 0) end = (long)size + end + 1;
  if (start < 1) start = 1;
  if (end > (long)size) end = (long)size;
  *from = (size_t)start - 1;
  *count = start <= end ? (size_t)(end - start + 1) : 0;
  return data;
}

static int send_result(lua_State *L, gl_lsock *s, size_t from, int err) {
  double last = (double)(s->wdone + from);
  if (err != LS_DONE) {
    lua_pushnil(L);
    lua_pushstring(L, gl_ls_strerror(err));
    lua_pushnumber(L, last);
  } else {
    lua_pushnumber(L, last);
    lua_pushnil(L);
    lua_pushnil(L);
  }
  return 3;
}

static int do_send(lua_State *L, gl_lsock *s, lua_KFunction k) {
  size_t from, count;
  const char *data = send_range(L, &from, &count);
  while (s->wdone < count) {
    if (s->fd < 0) return send_result(L, s, from, LS_CLOSED);
    size_t step = count - s->wdone;
    if (step > GL_LS_STEPSIZE) step = GL_LS_STEPSIZE;
    ssize_t put = send(s->fd, data + from + s->wdone, step, MSG_NOSIGNAL);
    if (put >= 0) {
      s->wdone += (size_t)put;
      s->buf.sent += (double)put;
      continue;
    }
    int err = errno;
    if (err == EINTR || err == EPROTOTYPE) continue;
    if (err == EPIPE) return send_result(L, s, from, LS_CLOSED);
    if (err != EAGAIN && err != EWOULDBLOCK) return send_result(L, s, from, err);
    if (s->tm.block == 0.0) return send_result(L, s, from, LS_TIMEOUT);
    double t = gl_ls_retry(&s->tm, s->wstart);
    if (t == 0.0) return send_result(L, s, from, LS_TIMEOUT);
    return gl_ls_wait(L, s, GL_LS_W, t, "send", k);
  }
  return send_result(L, s, from, LS_DONE);
}

int gl_ls_send(lua_State *L, gl_lsock *s, lua_KFunction k) {
  luaL_checkstring(L, 2);
  lua_settop(L, 4);
  s->wdone = 0;
  s->wstart = gl_ls_gettime();
  size_t from, count;
  send_range(L, &from, &count);
  if (count > 0 && s->fd < 0) return send_result(L, s, from, LS_CLOSED);
  return do_send(L, s, k);
}

int gl_ls_send_k(lua_State *L, gl_lsock *s, lua_KFunction k) {
  int r = gl_ls_waited(L);
  if (r != LS_DONE) {
    size_t from, count;
    send_range(L, &from, &count);
    return send_result(L, s, from, r);
  }
  return do_send(L, s, k);
}

/* ---------------------------------------------------------------- stats */

int gl_ls_getstats(lua_State *L, gl_lsock *s) {
  lua_pushnumber(L, s->buf.received);
  lua_pushnumber(L, s->buf.sent);
  lua_pushnumber(L, gl_ls_gettime() - s->buf.birthday);
  return 3;
}

static double as_long(double v) {
  if (v != v) return 0;
  if (v > 9.0e18) v = 9.0e18;
  if (v < -9.0e18) v = -9.0e18;
  return (double)(long)v;
}

int gl_ls_setstats(lua_State *L, gl_lsock *s) {
  s->buf.received = as_long(luaL_optnumber(L, 2, s->buf.received));
  s->buf.sent = as_long(luaL_optnumber(L, 3, s->buf.sent));
  if (lua_isnumber(L, 4)) s->buf.birthday = gl_ls_gettime() - lua_tonumber(L, 4);
  lua_pushnumber(L, 1);
  return 1;
}

int gl_ls_dirty(lua_State *L, gl_lsock *s) {
  lua_pushboolean(L, avail(&s->buf) > 0);
  return 1;
}
