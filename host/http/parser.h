/*
** parser.h: the parser object shared by parser.c (llhttp's callbacks,
** feeding, the object) and read.c (the blocking reads). Not for other
** modules: they see only the Lua methods (http.h).
*/
#ifndef GL_HTTP_PARSER_H
#define GL_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <llhttp.h>
#include "io/socket.h"

typedef struct gl_span { size_t off, len; } gl_span;

typedef struct gl_http_parser {
  const char *tag;        /* first: the type tag (sync/args.h) */
  llhttp_t p;
  int kind;               /* HTTP_REQUEST or HTTP_RESPONSE */
  size_t url_limit, line_limit, head_limit, max_headers;
  uint64_t max_body;      /* UINT64_MAX: none */
  /* the head being parsed: copies of its pieces in head[0, hlen) */
  char *head;
  size_t hlen, hcap;
  gl_span url, reason;
  gl_span *fields;        /* name, value, name, value, ... */
  size_t nfields, fcap;
  int in_value;           /* the last piece was a value */
  size_t line;            /* bytes of the line being parsed */
  size_t raw;             /* raw bytes of this head so far */
  /* where llhttp is in the bytes being fed, for the checks that need to
  ** see what it skips: obs-folds and the CRLF after chunk data */
  const char *feed_start, *feed_end;
  const char *value_end;  /* the end of the last value piece, in this feed */
  const char *name_end;   /* the end of the last name piece, in this feed */
  int break_after_name;   /* a line ended after a name, before its value */
  int value_at_tail;      /* the last feed ended inside a value */
  uint64_t chunk_left;    /* data bytes of the current chunk still to come */
  int crlf_left;          /* bytes of the CRLF after chunk data to check */
  char last;              /* the last head byte fed (a LF must follow a CR) */
  char tail[4];           /* the last 4 bytes fed: a chunked body's end */
  size_t framing;         /* chunked framing bytes fed since the last data */
  /* the message */
  int phase;              /* IDLE, HEAD, BODY, DONE (parser.c) */
  int paused;             /* llhttp stopped itself: resume before feeding */
  int head_done, keep, expect, chunked, skip_body;
  int status;             /* the refusal: a status to answer (0: none) */
  const char *why;
  /* the decoded body not yet read: body[boff, boff+blen) */
  char *body;
  size_t boff, blen, bcap, bscan;  /* bscan: bytes known to hold no LF */
  uint64_t body_seen;
  size_t chunk_ext;
} gl_http_parser;

enum { GL_PHASE_IDLE, GL_PHASE_HEAD, GL_PHASE_BODY, GL_PHASE_DONE };

gl_http_parser *gl_http_check(lua_State *L, int idx, const char *fname);
/* The open socket at idx; misuse raises naming fname (pcall or not). */
gl_sock *gl_http_sock(lua_State *L, int idx, const char *fname);
int gl_http_feed(gl_http_parser *h, gl_stream *st, size_t max);
int gl_http_finish(gl_http_parser *h);
void gl_http_next(gl_http_parser *h);

/* read.c: the methods that wait for bytes */
int gl_http_read_request(lua_State *L);
int gl_http_read_response(lua_State *L);
int gl_http_read_body(lua_State *L);
int gl_http_discard(lua_State *L);

#endif
