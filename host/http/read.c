/*
** read.c: the parser's methods that wait for bytes (see http.h): a
** request head into a WSAPI env, a response head into a headers table,
** the body in the forms Lua's io reads, and discarding what is left.
**
** Each is a step function re-entered after every block, as the stream's
** own receive is: the frame's slots hold the arguments and the deadlines,
** nothing lives in C across a yield.
*/
#include <string.h>
#include <lauxlib.h>
#include "http/http.h"
#include "http/parser.h"
#include "io/socket.h"
#include "sync/args.h"

#define FEED_PIECE (64 * 1024)   /* raw bytes decoded per step of a body read */

enum { LINE = -1, ALL = -2 };

/* The stream of the socket at 'idx' (checked at entry: open, not listening). */
static gl_stream *stream_at(lua_State *L, int idx, const char *fname) {
  gl_sock *s = gl_http_sock(L, idx, fname);
  if (s->listening) luaL_error(L, "%s: the socket is listening", fname);
  return &s->st;
}

/* The bytes ended or failed: nil and the stream's message. */
static int wire_failed(lua_State *L, gl_stream *st) {
  return gl_stream_fail(L, st, st->read_err ? st->read_err : UV_EOF);
}

static int timed_out(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "timeout");
  return 2;
}

/* Wait for more bytes on 'st' until the deadline at 'slot' (< 0: none). */
static int wait_bytes(lua_State *L, gl_stream *st, const char *what, int slot,
                      lua_KFunction k) {
  if (st->readers.n > 0)
    return luaL_error(L, "%s: another green thread is reading this socket", what);
  gl_stream_want_read(st);
  double left = gl_time_left(L, slot);
  if (left == 0) return timed_out(L);
  return gl_block(L, what, &st->readers, left, k);
}

/* Ready for a new message: the one before must be over. */
static void start_message(lua_State *L, gl_http_parser *h, const char *fname) {
  if (h->status) luaL_error(L, "%s: the connection had a protocol error", fname);
  if (h->phase == GL_PHASE_BODY || h->blen > 0)
    luaL_error(L, "%s: the previous message's body is unread (read or discard it)", fname);
  gl_http_next(h);
}

/* --------------------------------------------------------- the request */

static void push_span(lua_State *L, gl_http_parser *h, gl_span s) {
  lua_pushlstring(L, h->head + s.off, s.len);
}

static int hex(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* PATH_INFO (percent-decoded) and QUERY_STRING from the request target.
** An absolute-form target (http://host/path) loses its scheme and host. */
static void set_target(lua_State *L, gl_http_parser *h) {
  const char *u = h->head + h->url.off, *end = u + h->url.len;
  if (h->url.len > 7 && (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0)) {
    const char *p = memchr(u, ':', (size_t)(end - u)) + 3;
    while (p < end && *p != '/' && *p != '?') p++;
    u = p;
  }
  const char *q = memchr(u, '?', (size_t)(end - u));
  const char *pend = q ? q : end;
  if (u == pend) {
    lua_pushliteral(L, "/");
  } else if (memchr(u, '%', (size_t)(pend - u)) == NULL) {
    lua_pushlstring(L, u, (size_t)(pend - u));
  } else {
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, (size_t)(pend - u));
    size_t n = 0;
    for (const char *p = u; p < pend; p++) {
      int hi, lo;
      if (*p == '%' && pend - p > 2 && (hi = hex(p[1])) >= 0 && (lo = hex(p[2])) >= 0) {
        out[n++] = (char)(hi * 16 + lo);
        p += 2;
      } else {
        out[n++] = *p;
      }
    }
    luaL_pushresultsize(&b, n);
  }
  lua_setfield(L, 3, "PATH_INFO");
  if (q) lua_pushlstring(L, q + 1, (size_t)(end - q - 1));
  else lua_pushliteral(L, "");
  lua_setfield(L, 3, "QUERY_STRING");
}

/* env[key] = value, or joined to the value already there with ", ". The
** key and the value are on top; both are popped. */
static void set_joined(lua_State *L, int t) {
  lua_pushvalue(L, -2);
  if (lua_rawget(L, t) == LUA_TSTRING) {
    lua_pushliteral(L, ", ");
    lua_pushvalue(L, -3);
    lua_concat(L, 3);
    lua_replace(L, -2);
  } else {
    lua_pop(L, 1);
  }
  lua_rawset(L, t);
}

/* The CGI key for a header: CONTENT_TYPE, CONTENT_LENGTH, else HTTP_ and
** the name upper-cased with '-' as '_'. 0 (nothing pushed) for a name
** with '_' in it: it could pass itself off as another header. */
static int push_cgi_key(lua_State *L, const char *name, size_t n) {
  if (memchr(name, '_', n)) return 0;
  if (n == 12 && strncasecmp(name, "content-type", n) == 0) {
    lua_pushliteral(L, "CONTENT_TYPE");
    return 1;
  }
  if (n == 14 && strncasecmp(name, "content-length", n) == 0) {
    lua_pushliteral(L, "CONTENT_LENGTH");
    return 1;
  }
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, n + 5);
  memcpy(out, "HTTP_", 5);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    out[5 + i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
  }
  luaL_pushresultsize(&b, n + 5);
  return 1;
}

/* Room in a new env for the keys wsgi.lua adds (SCRIPT_NAME, SERVER_*,
** REMOTE_*, input, error, posthooks and a few of the app's): growing a
** table rehashes it, and every request would pay for each doubling. */
#define ENV_SPARE 16

static int request_done(lua_State *L, gl_http_parser *h) {
  lua_settop(L, 3);
  if (!lua_istable(L, 3)) {
    lua_createtable(L, 0, (int)(h->nfields / 2) + 8 + ENV_SPARE);
    lua_replace(L, 3);
  }
  lua_pushstring(L, llhttp_method_name((llhttp_method_t)h->p.method));
  lua_setfield(L, 3, "REQUEST_METHOD");
  set_target(L, h);
  push_span(L, h, h->url);  /* as sent: for logs and proxies */
  lua_setfield(L, 3, "REQUEST_URI");
  lua_pushstring(L, h->p.http_minor ? "HTTP/1.1" : "HTTP/1.0");
  lua_setfield(L, 3, "SERVER_PROTOCOL");
  size_t n = h->nfields / 2;
  lua_createtable(L, (int)n, 0);  /* env.headers, at 4 */
  for (size_t i = 0; i < n; i++) {
    gl_span name = h->fields[2 * i], value = h->fields[2 * i + 1];
    lua_createtable(L, 2, 0);
    push_span(L, h, name);
    lua_rawseti(L, -2, 1);
    push_span(L, h, value);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, 4, (lua_Integer)i + 1);
    if (push_cgi_key(L, h->head + name.off, name.len)) {
      push_span(L, h, value);
      set_joined(L, 3);
    }
  }
  lua_setfield(L, 3, "headers");
  lua_pushvalue(L, 3);
  lua_pushboolean(L, h->keep);
  lua_pushboolean(L, h->expect);
  return 3;
}

static int refused(lua_State *L, gl_http_parser *h) {
  lua_pushnil(L);
  lua_pushinteger(L, h->status);
  lua_pushstring(L, h->why ? h->why : "Bad Request");
  return 3;
}

/* What the bytes buffered so far make of a head (both kinds): fed to
** llhttp until it is complete, refused, or more must come. */
enum { HEAD_READY, HEAD_REFUSED, HEAD_ENDED, HEAD_CLOSED, HEAD_WAIT };

static int look_for_head(gl_http_parser *h, gl_stream *st) {
  for (;;) {
    if (st->h == NULL) return HEAD_CLOSED;
    gl_stream_pump(st);
    if (st->len == 0) return st->eof || st->read_err ? HEAD_ENDED : HEAD_WAIT;
    if (gl_http_feed(h, st, st->len) < 0) return HEAD_REFUSED;
    if (h->head_done) return HEAD_READY;
  }
}

/* Some byte of the message has come (a partial head is not "closed"). */
static int begun(gl_http_parser *h) {
  return h->phase != GL_PHASE_IDLE || h->raw > 0;
}

/* read_request's frame: 1 parser, 2 socket, 3 env, 4 idle deadline,
** 5 head timeout, 6 head deadline (-1 until the first byte). */
static int request_k(lua_State *L, int status, lua_KContext ctx);

static int request_step(lua_State *L) {
  gl_http_parser *h = lua_touserdata(L, 1);
  gl_stream *st = lua_touserdata(L, 2);
  switch (look_for_head(h, st)) {
    case HEAD_READY: return request_done(L, h);
    case HEAD_REFUSED: return refused(L, h);
    case HEAD_ENDED: return wire_failed(L, st);
    case HEAD_CLOSED: return gl_stream_fail(L, st, UV_ECANCELED);
    default: break;
  }
  if (!begun(h)) return wait_bytes(L, st, "read_request", 4, request_k);
  if (lua_tonumber(L, 6) < 0 && lua_tonumber(L, 5) >= 0) {
    lua_pushnumber(L, gl_deadline(lua_tonumber(L, 5)));  /* the head's clock starts */
    lua_replace(L, 6);
  }
  return wait_bytes(L, st, "read_request", 6, request_k);
}

static int request_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 6)) return timed_out(L);
  return request_step(L);
}

/* p:read_request(sock, env, idle, head_timeout) */
int gl_http_read_request(lua_State *L) {
  gl_http_parser *h = gl_http_check(L, 1, "read_request");
  if (h->kind != HTTP_REQUEST) luaL_error(L, "read_request: a response parser");
  stream_at(L, 2, "read_request");
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  double idle = gl_sync_opttimeout(L, 4, "read_request");
  double head = gl_sync_opttimeout(L, 5, "read_request");
  start_message(L, h, "read_request");
  lua_settop(L, 3);
  lua_pushnumber(L, gl_deadline(idle));
  lua_pushnumber(L, head);
  lua_pushnumber(L, -1);
  return request_step(L);
}

/* -------------------------------------------------------- the response */

static int response_done(lua_State *L, gl_http_parser *h) {
  lua_settop(L, 3);
  size_t n = h->nfields / 2;
  for (size_t i = 0; i < n; i++) {
    gl_span name = h->fields[2 * i];
    char *s = h->head + name.off;
    for (size_t j = 0; j < name.len; j++)
      if (s[j] >= 'A' && s[j] <= 'Z') s[j] = (char)(s[j] + 32);
    push_span(L, h, name);
    push_span(L, h, h->fields[2 * i + 1]);
    set_joined(L, 3);
  }
  lua_pushinteger(L, h->p.status_code);
  push_span(L, h, h->reason);
  lua_pushboolean(L, h->keep);
  lua_pushstring(L, h->p.http_minor ? "HTTP/1.1" : "HTTP/1.0");
  return 4;
}

static int malformed(lua_State *L, gl_http_parser *h) {
  lua_pushnil(L);
  if (h->status == 431) lua_pushliteral(L, "response head too large");
  else lua_pushfstring(L, "malformed response: %s", h->why ? h->why : "?");
  return 2;
}

/* read_response's frame: 1 parser, 2 socket, 3 headers, 4 deadline. */
static int response_k(lua_State *L, int status, lua_KContext ctx);

static int response_step(lua_State *L) {
  gl_http_parser *h = lua_touserdata(L, 1);
  gl_stream *st = lua_touserdata(L, 2);
  switch (look_for_head(h, st)) {
    case HEAD_READY:
      if (h->p.status_code != 101) return response_done(L, h);
      lua_pushnil(L);
      lua_pushliteral(L, "malformed response: an unrequested protocol switch");
      return 2;
    case HEAD_REFUSED: return malformed(L, h);
    case HEAD_ENDED:
      if (!begun(h)) return wire_failed(L, st);
      lua_pushnil(L);  /* "closed" is only for a connection that ended between messages */
      lua_pushliteral(L, "malformed response: truncated head");
      return 2;
    case HEAD_CLOSED: return gl_stream_fail(L, st, UV_ECANCELED);
    default: return wait_bytes(L, st, "read_response", 4, response_k);
  }
}

static int response_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 4)) return timed_out(L);
  return response_step(L);
}

/* p:read_response(sock, headers, timeout, is_head) */
int gl_http_read_response(lua_State *L) {
  gl_http_parser *h = gl_http_check(L, 1, "read_response");
  if (h->kind != HTTP_RESPONSE) luaL_error(L, "read_response: a request parser");
  stream_at(L, 2, "read_response");
  luaL_checktype(L, 3, LUA_TTABLE);
  double timeout = gl_sync_opttimeout(L, 4, "read_response");
  start_message(L, h, "read_response");
  h->skip_body = lua_toboolean(L, 5);
  lua_settop(L, 3);
  lua_pushnumber(L, gl_deadline(timeout));
  return response_step(L);
}

/* ------------------------------------------------------------ the body */

/* Take n decoded bytes, pushing them. */
static void take(lua_State *L, gl_http_parser *h, size_t n, size_t keep) {
  lua_pushlstring(L, h->body + h->boff, keep);
  h->boff += n;
  h->blen -= n;
  h->bscan = h->bscan > n ? h->bscan - n : 0;
  if (h->blen == 0) h->boff = 0;
}

/* What is buffered answers the read: 1 (pushed) or 0. */
static int answer(lua_State *L, gl_http_parser *h, lua_Integer what) {
  int ended = h->phase != GL_PHASE_BODY;
  if (what >= 0) {
    if (h->blen >= (size_t)what) return take(L, h, (size_t)what, (size_t)what), 1;
    if (ended && h->blen > 0) return take(L, h, h->blen, h->blen), 1;
  } else if (what == LINE) {
    const char *b = h->body + h->boff;
    const char *nl = h->blen > h->bscan ? memchr(b + h->bscan, '\n', h->blen - h->bscan) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - b) + 1, keep = n - 1;
      if (keep > 0 && b[keep - 1] == '\r') keep--;
      return take(L, h, n, keep), 1;
    }
    h->bscan = h->blen;
    if (ended && h->blen > 0) return take(L, h, h->blen, h->blen), 1;
  } else if (ended) {
    return take(L, h, h->blen, h->blen), 1;
  }
  if (ended) return lua_pushnil(L), 1;
  return 0;
}

static int body_failed(lua_State *L, gl_http_parser *h) {
  lua_pushnil(L);
  if (h->status == 413) lua_pushliteral(L, "body too large");
  else lua_pushfstring(L, "bad chunk: %s", h->why ? h->why : "?");
  lua_pushinteger(L, h->status);
  return 3;
}

/* Decode more of the body, waiting for bytes if need be: 0 to look again,
** else the number of results pushed (an error, or the block). */
static int more_body(lua_State *L, gl_http_parser *h, gl_stream *st, const char *what,
                     lua_KFunction k) {
  if (st->h == NULL) return gl_stream_fail(L, st, UV_ECANCELED);
  gl_stream_pump(st);
  if (st->len > 0) return gl_http_feed(h, st, FEED_PIECE) < 0 ? body_failed(L, h) : 0;
  if (st->eof && gl_http_finish(h) == 0) return 0;  /* it ran to the end */
  if (st->eof || st->read_err) return wire_failed(L, st);
  return wait_bytes(L, st, what, 4, k);
}

/* read_body's frame: 1 parser, 2 socket, 3 what, 4 deadline. */
static int body_k(lua_State *L, int status, lua_KContext ctx);

static int body_step(lua_State *L) {
  gl_http_parser *h = lua_touserdata(L, 1);
  gl_stream *st = lua_touserdata(L, 2);
  lua_Integer what = lua_tointeger(L, 3);
  for (;;) {
    if (h->status) return body_failed(L, h);
    if (answer(L, h, what)) return 1;
    int r = more_body(L, h, st, "read_body", body_k);
    if (r) return r;
  }
}

static int body_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 4)) return timed_out(L);
  return body_step(L);
}

/* The per-wait deadline: the argument at 'idx', else the socket's timeout. */
static double body_deadline(lua_State *L, int idx, gl_stream *st, const char *fname) {
  if (lua_isnoneornil(L, idx)) return gl_deadline(st->timeout);
  return gl_deadline(gl_sync_opttimeout(L, idx, fname));
}

/* p:read_body(sock, what, timeout) */
int gl_http_read_body(lua_State *L) {
  gl_http_check(L, 1, "read_body");
  gl_stream *st = stream_at(L, 2, "read_body");
  lua_Integer what = ALL;
  if (lua_type(L, 3) == LUA_TNUMBER) {
    int ok;
    what = lua_tointegerx(L, 3, &ok);
    if (!ok || what < 0) gl_sync_argerror(L, 3, "read", "byte count must be a non-negative integer");
  } else if (!lua_isnoneornil(L, 3)) {
    const char *p = luaL_checkstring(L, 3);
    if (*p == '*') p++;
    if ((p[0] != 'l' && p[0] != 'a') || p[1] != '\0')
      gl_sync_argerror(L, 3, "read", "invalid format (\"*l\", \"*a\" or a number)");
    what = p[0] == 'a' ? ALL : LINE;
  }
  double deadline = body_deadline(L, 4, st, "read_body");
  lua_settop(L, 2);
  lua_pushinteger(L, what);
  lua_pushnumber(L, deadline);
  return body_step(L);
}

/* discard's frame: 1 parser, 2 socket, 3 max, 4 deadline, 5 bytes dropped. */
static int discard_k(lua_State *L, int status, lua_KContext ctx);

static int too_large(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "too large");
  return 2;
}

static int discard_step(lua_State *L) {
  gl_http_parser *h = lua_touserdata(L, 1);
  gl_stream *st = lua_touserdata(L, 2);
  lua_Integer max = lua_tointeger(L, 3);
  for (;;) {
    if (h->status) return body_failed(L, h);
    lua_Integer dropped = lua_tointeger(L, 5) + (lua_Integer)h->blen;
    h->boff = h->blen = h->bscan = 0;
    lua_pushinteger(L, dropped);
    lua_replace(L, 5);
    if (dropped > max) return too_large(L);
    if (h->phase != GL_PHASE_BODY) {
      lua_pushboolean(L, 1);
      return 1;
    }
    int r = more_body(L, h, st, "discard", discard_k);
    if (r) return r;
  }
}

static int discard_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 5)) return timed_out(L);
  return discard_step(L);
}

/* p:discard(sock, max, timeout) */
int gl_http_discard(lua_State *L) {
  gl_http_parser *h = gl_http_check(L, 1, "discard");
  gl_stream *st = stream_at(L, 2, "discard");
  lua_Integer max = gl_sync_checkinteger(L, 3, "discard");
  double deadline = body_deadline(L, 4, st, "discard");
  /* a declared length says at once whether it fits */
  if (h->phase == GL_PHASE_BODY && !h->chunked && (h->p.flags & F_CONTENT_LENGTH) &&
      h->p.content_length + h->blen > (uint64_t)(max < 0 ? 0 : max))
    return too_large(L);
  lua_settop(L, 3);
  lua_pushnumber(L, deadline);
  lua_pushinteger(L, 0);
  return discard_step(L);
}
