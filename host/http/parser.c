/*
** parser.c: llhttp driven from a socket's stream buffer (see http.h).
**
** One parser per connection. llhttp is fed the stream's buffered bytes in
** place and stops (HPE_PAUSED) at the end of a head that has a body, and
** at the end of every message, so what follows stays in the stream for the
** next read. The head's pieces are copied as they are parsed (a head may
** arrive in many reads); the body is decoded into a buffer of its own,
** and only as far as a reader asks, so a large upload is never held whole
** unless the app reads it whole.
**
** Everything here runs in the reading green thread; llhttp's callbacks
** only copy and count, never touch Lua.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <llhttp.h>
#include "http/http.h"
#include "http/parser.h"
#include "io/socket.h"
#include "sync/args.h"

static const char PARSER_TAG[] = "green.http_parser";

#define MAX_CHUNK_EXT 4096       /* bytes of chunk extensions per chunk */

enum { IDLE = GL_PHASE_IDLE, HEAD = GL_PHASE_HEAD, BODY = GL_PHASE_BODY, DONE = GL_PHASE_DONE };

/* ------------------------------------------------------------ buffers */

static int grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t cap2 = *cap ? *cap : 256;
  while (cap2 < need) cap2 *= 2;
  char *b = realloc(*buf, cap2);
  if (b == NULL) return -1;
  *buf = b;
  *cap = cap2;
  return 0;
}

static gl_http_parser *of(llhttp_t *p) {
  return (gl_http_parser *)((char *)p - offsetof(gl_http_parser, p));
}

/* Refuse the message: answer 'status' ('why' says why). */
static int reject(gl_http_parser *h, int status, const char *why) {
  if (!h->status) {
    h->status = status;
    h->why = why;
  }
  return HPE_USER;
}

/* Append n head bytes to the span at *sp (a fresh one if sp->len is 0 and
** it is not the last thing appended). */
static int append(gl_http_parser *h, gl_span *sp, const char *at, size_t n) {
  if (grow(&h->head, &h->hcap, h->hlen + n)) return reject(h, 500, "out of memory");
  if (sp->len == 0) sp->off = h->hlen;
  memcpy(h->head + h->hlen, at, n);
  h->hlen += n;
  sp->len += n;
  return 0;
}

/* Bytes no head may carry: controls other than HT, and DEL. */
static int has_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 1;
  }
  return 0;
}

/* ------------------------------------------------ llhttp's callbacks */

static int on_message_begin(llhttp_t *p) {
  gl_http_parser *h = of(p);
  h->phase = HEAD;
  h->hlen = 0;
  h->nfields = 0;
  h->in_value = 0;
  h->line = 0;
  memset(&h->url, 0, sizeof h->url);
  memset(&h->reason, 0, sizeof h->reason);
  h->head_done = 0;
  h->expect = 0;
  h->body_seen = 0;
  return 0;
}

/* The request line counts against url_length_limit as it comes. */
static int on_line_part(llhttp_t *p, const char *at, size_t n) {
  (void)at;
  gl_http_parser *h = of(p);
  h->line += n;
  return h->line > h->url_limit ? reject(h, 414, "Request-URI Too Long") : 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  gl_http_parser *h = of(p);
  if (has_control(at, n)) return reject(h, 400, "control byte in the request target");
  int r = on_line_part(p, at, n);
  return r ? r : append(h, &h->url, at, n);
}

static int on_status(llhttp_t *p, const char *at, size_t n) {
  gl_http_parser *h = of(p);
  if (h->reason.len + n > h->line_limit) return reject(h, 431, "status line too long");
  return append(h, &h->reason, at, n);
}

/* A header's name or value piece: both count against the line and the
** head limits; a name after a value starts the next header. */
static int header_part(gl_http_parser *h, int value, const char *at, size_t n) {
  if (value != h->in_value || h->nfields == 0) {
    if (value && (h->nfields % 2 == 0 || h->fields[h->nfields - 1].len == 0))
      return reject(h, 400, "empty header name");
    if (!value && h->nfields / 2 >= h->max_headers)
      return reject(h, 431, "Too Many Headers");
    if (h->nfields == h->fcap) {
      size_t cap = h->fcap ? h->fcap * 2 : 8;  /* 4 headers; most requests have a few */
      gl_span *f = realloc(h->fields, cap * sizeof *f);
      if (f == NULL) return reject(h, 500, "out of memory");
      h->fields = f;
      h->fcap = cap;
    }
    memset(&h->fields[h->nfields++], 0, sizeof(gl_span));
    h->in_value = value;
    if (!value) h->line = 0;
  }
  h->line += n;
  if (h->line > h->line_limit) return reject(h, 431, "Header Line Too Long");
  if (h->hlen + n > h->head_limit) return reject(h, 431, "Request Header Fields Too Large");
  return append(h, &h->fields[h->nfields - 1], at, n);
}

/* llhttp lets a space before the colon through: a name is a token. */
static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  gl_http_parser *h = of(p);
  for (size_t i = 0; i < n; i++)
    if (!gl_http_tchar((unsigned char)at[i])) return reject(h, 400, "invalid header name");
  h->name_end = at + n;
  h->break_after_name = 0;
  return header_part(h, 0, at, n);
}

static int has_break(const char *from, const char *to) {
  return from < to && (memchr(from, '\r', (size_t)(to - from)) || memchr(from, '\n', (size_t)(to - from)));
}

/* A value arrives in one piece per feed. A second piece that does not
** continue the first where it ended (nor at the start of the next feed,
** after a feed that ended inside the value) follows a line break: an
** obsolete line fold, which llhttp joins and we refuse. */
static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  gl_http_parser *h = of(p);
  if (has_control(at, n)) return reject(h, 400, "control byte in a header");
  if (h->in_value && h->nfields > 0 && at != h->value_end &&
      !(at == h->feed_start && h->value_at_tail))
    return reject(h, 400, "obsolete line folding");
  /* a value's first piece must be on its name's line ("X:\r\n b" folds
  ** too); an empty value's span comes after the line end, so not that */
  if (!h->in_value && n > 0) {
    const char *from = h->name_end ? h->name_end : h->feed_start;
    if (h->break_after_name || has_break(from, at)) return reject(h, 400, "obsolete line folding");
  }
  h->value_end = at + n;
  return header_part(h, 1, at, n);
}

static int name_is(gl_http_parser *h, size_t i, const char *name) {
  gl_span s = h->fields[i];
  return strlen(name) == s.len && strncasecmp(h->head + s.off, name, s.len) == 0;
}

static int value_is(gl_http_parser *h, size_t i, const char *v) {
  gl_span s = h->fields[i + 1];
  return strlen(v) == s.len && strncasecmp(h->head + s.off, v, s.len) == 0;
}

static int on_headers_complete(llhttp_t *p) {
  gl_http_parser *h = of(p);
  if (h->nfields % 2) memset(&h->fields[h->nfields++], 0, sizeof(gl_span));  /* a name without value */
  if (p->http_major != 1 || p->http_minor > 1) {
    reject(h, 505, "HTTP Version Not Supported");
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > (uint64_t)INT64_MAX) {
    reject(h, 400, "Content-Length overflow");  /* past what Lua can count */
    return -1;
  }
  h->head_done = 1;
  /* for HTTP/1.0 llhttp looks only for keep-alive: close wins there too */
  h->keep = llhttp_should_keep_alive(p) && !(p->flags & F_CONNECTION_CLOSE);
  h->chunked = (p->flags & F_CHUNKED) != 0;
  int has_body = h->chunked || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  if (h->kind == HTTP_REQUEST) {
    for (size_t i = 0; i < h->nfields; i += 2) {
      if (name_is(h, i, "transfer-encoding") && !value_is(h, i, "chunked")) {
        reject(h, 501, "Not Implemented");  /* only chunked is decoded */
        return -1;
      }
      if (name_is(h, i, "expect") && value_is(h, i, "100-continue")) h->expect = 1;
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->max_body) {
      reject(h, 413, "Payload Too Large");
      return -1;
    }
    if (!has_body) h->expect = 0;
    h->phase = BODY;
    return has_body ? HPE_PAUSED : 0;  /* a bodiless one stops at its end */
  }
  h->phase = BODY;
  if (h->skip_body || p->status_code == 204 || p->status_code == 304)
    return 1;  /* the answer to a HEAD, or a status that has no body */
  /* interim ones parse on; so does an empty body (it completes at once) */
  if (p->status_code < 200 || ((p->flags & F_CONTENT_LENGTH) && !h->chunked && p->content_length == 0))
    return 0;
  return HPE_PAUSED;
}

/* Check the CRLF after a chunk's data from 'at' on (llhttp 8.1 takes any
** two bytes there, a smuggling hole); what the feed does not hold yet is
** checked at the start of the next. */
static int check_crlf(gl_http_parser *h, const char *at) {
  while (h->crlf_left > 0 && at < h->feed_end) {
    if (*at++ != "\r\n"[2 - h->crlf_left]) return reject(h, 400, "chunk data not followed by CRLF");
    h->crlf_left--;
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  gl_http_parser *h = of(p);
  if (h->chunked) {
    h->chunk_left -= n < h->chunk_left ? n : h->chunk_left;
    if (h->chunk_left == 0) {
      h->crlf_left = 2;
      if (check_crlf(h, at + n)) return HPE_USER;
    }
  }
  h->body_seen += n;
  if (h->body_seen > h->max_body) return reject(h, 413, "body too large");
  if (grow(&h->body, &h->bcap, h->boff + h->blen + n)) {
    if (h->boff && h->blen) memmove(h->body, h->body + h->boff, h->blen);
    h->boff = 0;
    if (grow(&h->body, &h->bcap, h->blen + n)) return reject(h, 500, "out of memory");
  }
  memcpy(h->body + h->boff + h->blen, at, n);
  h->blen += n;
  return 0;
}

static int on_chunk_header(llhttp_t *p) {
  gl_http_parser *h = of(p);
  h->chunk_ext = 0;
  h->chunk_left = p->content_length;
  return 0;
}

static int on_chunk_ext(llhttp_t *p, const char *at, size_t n) {
  (void)at;
  gl_http_parser *h = of(p);
  h->chunk_ext += n;
  return h->chunk_ext > MAX_CHUNK_EXT ? reject(h, 400, "chunk extension too long") : 0;
}

static int on_message_complete(llhttp_t *p) {
  gl_http_parser *h = of(p);
  if (h->kind == HTTP_RESPONSE && p->status_code < 200 && p->status_code != 101) {
    h->phase = IDLE;  /* an interim response: its real one follows */
    h->head_done = 0;
    return 0;
  }
  h->phase = DONE;
  return HPE_PAUSED;
}

static llhttp_settings_t settings;

static void init_settings(void) {
  llhttp_settings_init(&settings);
  settings.on_message_begin = on_message_begin;
  settings.on_method = on_line_part;
  settings.on_url = on_url;
  settings.on_version = on_line_part;
  settings.on_status = on_status;
  settings.on_header_field = on_header_field;
  settings.on_header_value = on_header_value;
  settings.on_headers_complete = on_headers_complete;
  settings.on_body = on_body;
  settings.on_chunk_header = on_chunk_header;
  settings.on_chunk_extension_name = on_chunk_ext;
  settings.on_chunk_extension_value = on_chunk_ext;
  settings.on_message_complete = on_message_complete;
}

/* ------------------------------------------------------------ feeding */

/* The status for an llhttp error that none of our checks caught. */
static int status_of(llhttp_t *p, llhttp_errno_t e) {
  const char *why = llhttp_get_error_reason(p);
  switch (e) {
    case HPE_INVALID_VERSION:
      /* a well-formed version llhttp does not know, else a syntax error
      ** (a bare CR after it, "HTTP/11", ...) */
      return why && strcmp(why, "Invalid HTTP version") == 0 ? 505 : 400;
    case HPE_INVALID_TRANSFER_ENCODING: return 501;
    default: return 400;
  }
}

/* Feed at most 'max' buffered bytes to llhttp and drop what it parsed from
** the stream. 0, or -1 with h->status and h->why set (the parser is dead:
** the connection must close). */
int gl_http_feed(gl_http_parser *h, gl_stream *st, size_t max) {
  if (h->status) return -1;
  size_t n = st->len < max ? st->len : max;
  const char *data = st->buf + st->off;
  if (h->paused) {
    llhttp_resume(&h->p);
    h->paused = 0;
  }
  int before = h->phase;
  uint64_t seen = h->body_seen;
  h->feed_start = data;
  h->feed_end = data + n;
  h->value_end = NULL;
  h->name_end = NULL;
  if (h->crlf_left && check_crlf(h, data)) return -1;
  llhttp_errno_t e = llhttp_execute(&h->p, data, n);
  h->value_at_tail = h->value_end == data + n;
  if (!h->in_value && h->nfields % 2 == 1 && has_break(h->name_end ? h->name_end : data, data + n))
    h->break_after_name = 1;  /* a name whose value has not begun, and a line ended */
  size_t used = n;
  if (e == HPE_PAUSED) {
    used = (size_t)(llhttp_get_error_pos(&h->p) - data);
    h->paused = 1;
  } else if (e != HPE_OK) {
    if (!h->status) {
      h->status = status_of(&h->p, e);
      h->why = llhttp_get_error_reason(&h->p);
      if (h->why == NULL || !*h->why) h->why = llhttp_errno_name(e);
    }
    return -1;
  }
  if (before <= HEAD) {
    /* the raw head, padding included, is bounded too */
    h->raw += used;
    if (h->raw > h->url_limit + h->head_limit)
      return reject(h, h->url.len ? 431 : 414, "Request Header Fields Too Large"), -1;
    /* llhttp takes a bare LF as the end of the request line and of the
    ** head, though not of a header line: one line end only, CRLF */
    for (size_t i = 0; i < used; i++) {
      char prev = i ? data[i - 1] : h->last;
      if (data[i] == '\n' && prev != '\r') return reject(h, 400, "bare LF in the head"), -1;
      if (prev == '\r' && data[i] != '\n') return reject(h, 400, "bare CR in the head"), -1;
    }
    if (used) h->last = data[used - 1];
  } else if (h->chunked && h->phase == BODY) {
    /* a chunk-size line of endless zeros, trailers without end */
    if (h->body_seen == seen) h->framing += used;  /* no data: all framing */
    if (h->framing > MAX_CHUNK_EXT + h->line_limit) return reject(h, 400, "chunk framing too long"), -1;
  }
  for (size_t i = used > 4 ? used - 4 : 0; i < used; i++) {
    memmove(h->tail, h->tail + 1, 3);
    h->tail[3] = data[i];
  }
  /* the blank line ending a chunked body (after its trailers), likewise */
  if (h->chunked && h->phase == DONE && before == BODY && memcmp(h->tail, "\r\n\r\n", 4) != 0)
    return reject(h, 400, "bare LF in the chunked framing"), -1;
  gl_stream_consume(st, used);
  return 0;
}

/* The wire ended: a message that runs to the end completes now. */
int gl_http_finish(gl_http_parser *h) {
  if (h->phase != BODY || !llhttp_message_needs_eof(&h->p)) return -1;
  if (h->paused) {
    llhttp_resume(&h->p);
    h->paused = 0;
  }
  llhttp_errno_t e = llhttp_finish(&h->p);
  if (e != HPE_OK && e != HPE_PAUSED) return -1;
  h->phase = DONE;
  return 0;
}

/* Ready for the next message: the previous one must be over. */
void gl_http_next(gl_http_parser *h) {
  if (h->phase == DONE) h->phase = IDLE;
  h->raw = 0;
  h->head_done = 0;
  h->last = '\n';  /* a message starts a line */
  h->framing = 0;
}

/* ------------------------------------------------------------ the object */

gl_sock *gl_http_sock(lua_State *L, int idx, const char *fname) {
  gl_sock *s = gl_sock_test(L, idx);
  if (s == NULL) gl_sync_typeerror(L, idx, fname, "socket");
  if (s->io == NULL) luaL_error(L, "%s: the socket is closed", fname);
  return s;
}

gl_http_parser *gl_http_check(lua_State *L, int idx, const char *fname) {
  gl_http_parser *h = gl_sync_test(L, idx, PARSER_TAG, sizeof(gl_http_parser));
  if (h == NULL) gl_sync_typeerror(L, idx, fname, "http parser");
  return h;
}

static size_t limit(lua_State *L, const char *field, lua_Integer def, lua_Integer max) {
  lua_getfield(L, 2, field);
  lua_Integer v = def;
  if (!lua_isnil(L, -1)) {
    int ok;
    v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < 0) luaL_error(L, "http_parser: limits.%s must be a non-negative integer", field);
  }
  lua_pop(L, 1);
  return (size_t)(v > max ? max : v);
}

/* core.http_parser(kind, limits) */
static int l_http_parser(lua_State *L) {
  static const char *const kinds[] = {"request", "response", NULL};
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  gl_http_parser *h = lua_newuserdatauv(L, sizeof *h, 0);
  memset(h, 0, sizeof *h);
  h->tag = PARSER_TAG;
  h->kind = kind == 0 ? HTTP_REQUEST : HTTP_RESPONSE;
  h->url_limit = limit(L, "url_length_limit", 8192, 1 << 30);
  h->line_limit = limit(L, "max_header_line", 8192, 1 << 30);
  h->head_limit = limit(L, "max_headers_size", 65536, 1 << 30);
  h->max_headers = limit(L, "max_headers", 100, 1 << 20);
  lua_getfield(L, 2, "max_body_size");
  h->max_body = UINT64_MAX;
  if (!lua_isnil(L, -1)) h->max_body = (uint64_t)limit(L, "max_body_size", 0, LUA_MAXINTEGER);
  lua_pop(L, 1);
  llhttp_init(&h->p, (llhttp_type_t)h->kind, &settings);
  luaL_setmetatable(L, PARSER_TAG);
  return 1;
}

static int l_gc(lua_State *L) {
  gl_http_parser *h = gl_http_check(L, 1, "__gc");
  free(h->head);
  free(h->fields);
  free(h->body);
  h->head = h->body = NULL;
  h->fields = NULL;
  h->hcap = h->bcap = h->fcap = h->hlen = h->blen = h->boff = h->nfields = 0;
  return 0;
}

static int l_tostring(lua_State *L) {
  gl_http_parser *h = gl_http_check(L, 1, "__tostring");
  lua_pushfstring(L, "http parser (%s): %p", h->kind == HTTP_REQUEST ? "request" : "response",
                  (void *)h);
  return 1;
}

static int l_body_done(lua_State *L) {
  gl_http_parser *h = gl_http_check(L, 1, "body_done");
  lua_pushboolean(L, h->phase != BODY && h->blen == 0);
  return 1;
}

/* p:idle(sock): no byte of a next message has come (on the wire or
** parsed): a server that stops may close this connection at once. */
static int l_idle(lua_State *L) {
  gl_http_parser *h = gl_http_check(L, 1, "idle");
  gl_sock *s = gl_http_sock(L, 2, "idle");
  int between = h->phase == DONE || (h->phase == IDLE && h->raw == 0);
  lua_pushboolean(L, between && s->st.len == 0 && !h->status);
  return 1;
}

void gl_open_http_parser(lua_State *L) {
  init_settings();
  lua_pushcfunction(L, l_http_parser);
  lua_setfield(L, -2, "http_parser");
  static const luaL_Reg methods[] = {
    {"read_request", gl_http_read_request}, {"read_response", gl_http_read_response},
    {"read_body", gl_http_read_body}, {"discard", gl_http_discard},
    {"body_done", l_body_done}, {"idle", l_idle}, {NULL, NULL}
  };
  luaL_newmetatable(L, PARSER_TAG);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
