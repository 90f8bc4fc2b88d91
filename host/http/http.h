/*
** http.h: HTTP/1.x on green sockets, the hot half of green.wsgi and
** green.http. llhttp (Debian's node-llhttp) parses; this module adds what
** llhttp lets through that greenlua's contract forbids, reads messages
** straight out of a socket's stream buffer (io/stream.h), and formats
** responses. The Lua modules (lib/green/wsgi.lua, http.lua) decide
** everything else: keep-alive policy, timeouts, logging, redirects.
**
** parser.c, opened into green.core:
**   core.http_parser(kind, limits)  "request" or "response"; one per
**        connection, reused for every message on it. Bytes after a message
**        stay in the socket for the next one (pipelining).
**   p:read_request(sock, env, idle, head_timeout)
**        -> env, keep_alive, expect_continue (env filled; with env nil, a
**           new one sized for the request and wsgi's own keys), or
**           nil, status, message (a bad request: answer status and close), or
**           nil, "closed" | "timeout" | err (I/O; a partial head is dropped)
**   p:read_response(sock, headers, timeout, is_head)
**        -> code, reason, keep_alive (headers filled, lower-case names), or
**           nil, err. Interim (1xx) responses are skipped.
**   p:read_body(sock, what, timeout) -> string; at the body's end nil (a
**        count, a line) or "" ("a"); nil, err when cut short, malformed or
**        too large
**   p:discard(sock, max, timeout) -> true, or nil, err ("too large")
**   p:body_done() -> whether the current message's body is all read
**   p:idle(sock) -> no byte of a next message has arrived yet
** Strictness beyond llhttp's own: control bytes (NUL, bare CR, ...) in a
** header value or the target, obs-folds, a Transfer-Encoding other than
** chunked (501), versions other than 1.0/1.1 (505), chunk extensions over
** 4 KiB, and every size limit (414, 431, 413) — counted on the raw bytes,
** so padding the head with whitespace cannot exceed them either.
**
** respond.c, opened into green.core:
**   core.http_respond(sock, status, headers, first, flags)
**        -> keep, mode, declared, or nil, err. One write: status line,
**        headers, framing headers, Date, first body bytes. Bad headers
**        raise before anything is written.
**   core.http_chunk(sock, data, last) -> true, or nil, err
**   core.http_date(t) -> IMF-fixdate; core.http_reason(code) -> phrase
*/
#ifndef GL_HTTP_H
#define GL_HTTP_H

#include <string.h>
#include <lua.h>

/* http_respond's flags (Lua sees them as core.http_flags). */
enum {
  GL_HTTP_10 = 1,          /* the request was HTTP/1.0 */
  GL_HTTP_KEEP = 2,        /* the connection may stay open */
  GL_HTTP_HEAD = 4,        /* a HEAD request: no body bytes */
  GL_HTTP_CAPITALIZE = 8,  /* send names as Content-Type */
  GL_HTTP_MORE = 16        /* a streaming body follows 'first' */
};

/* http_respond's modes: what the caller sends after the head. */
enum { GL_HTTP_DONE = 0, GL_HTTP_LENGTH = 1, GL_HTTP_CHUNKED = 2, GL_HTTP_CLOSE = 3 };

/* A byte of a token (RFC 9110 5.6.2): what a header name is made of, in
** requests (parser.c) and responses (respond.c) alike. */
static inline int gl_http_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The reason phrase of a status code, or NULL. */
const char *gl_http_reason(int code);

void gl_open_http_parser(lua_State *L);
void gl_open_http_respond(lua_State *L);
/* proxy.c: core.proxy_read, core.proxy_parse, core.ip_bytes (see there). */
void gl_open_http_proxy(lua_State *L);

#endif
