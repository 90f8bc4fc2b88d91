/*
** respond.c: a response's head and first body bytes, formatted and sent in
** one write; chunks of a streamed body; HTTP dates; reason phrases. See
** http.h for the contract, wsgi.lua for the caller.
**
** The server frames, never the app: the app's Content-Length is kept and
** never exceeded on the wire (more would be read by the client as the next
** response), its Transfer-Encoding and Connection are replaced by the
** server's own, since only the server knows how the body is sent and
** whether the connection stays.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "http/http.h"
#include "http/parser.h"
#include "io/socket.h"

/* ------------------------------------------------------ reason phrases */

const char *gl_http_reason(int code) {
  switch (code) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return NULL;
  }
}

/* --------------------------------------------------------------- dates */

/* IMF-fixdate (RFC 9110 5.6.7) into out[30]: English names whatever the
** locale. */
static void format_date(time_t t, char *out) {
  static const char days[] = "SunMonTueWedThuFriSat";
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  struct tm tm;
  gmtime_r(&t, &tm);
  memcpy(out, days + 3 * tm.tm_wday, 3);
  out[3] = ',';
  out[4] = ' ';
  out[5] = (char)('0' + tm.tm_mday / 10);
  out[6] = (char)('0' + tm.tm_mday % 10);
  out[7] = ' ';
  memcpy(out + 8, months + 3 * tm.tm_mon, 3);
  int y = tm.tm_year + 1900;
  out[11] = ' ';
  out[12] = (char)('0' + y / 1000 % 10);
  out[13] = (char)('0' + y / 100 % 10);
  out[14] = (char)('0' + y / 10 % 10);
  out[15] = (char)('0' + y % 10);
  out[16] = ' ';
  out[17] = (char)('0' + tm.tm_hour / 10);
  out[18] = (char)('0' + tm.tm_hour % 10);
  out[19] = ':';
  out[20] = (char)('0' + tm.tm_min / 10);
  out[21] = (char)('0' + tm.tm_min % 10);
  out[22] = ':';
  out[23] = (char)('0' + tm.tm_sec / 10);
  out[24] = (char)('0' + tm.tm_sec % 10);
  memcpy(out + 25, " GMT", 5);
}

/* Now's date, formatted once a second. */
static const char *date_now(void) {
  static time_t cached = -1;
  static char text[30];
  time_t t = time(NULL);
  if (t != cached) {
    format_date(t, text);
    cached = t;
  }
  return text;
}

/* core.http_date(t): years 0 to 9999 only, so the format holds. */
static int l_http_date(lua_State *L) {
  lua_Number t = luaL_checknumber(L, 1);
  if (!(t >= -62167219200.0 && t < 253402300800.0))
    luaL_argerror(L, 1, "time out of range (years 0 to 9999)");
  char text[30];
  time_t s = (time_t)floor(t);
  format_date(s, text);
  lua_pushlstring(L, text, 29);
  return 1;
}

static int l_http_reason(lua_State *L) {
  lua_Integer code = luaL_checkinteger(L, 1);
  const char *r = code >= 100 && code <= 999 ? gl_http_reason((int)code) : NULL;
  if (r) lua_pushstring(L, r);
  else lua_pushnil(L);
  return 1;
}

/* ------------------------------------------------------- the scratch */

/* The head is formatted here, then pushed as one string with the body:
** a luaL_Buffer cannot be used while lua_next walks the headers. */
static char *scratch;
static size_t scratch_len, scratch_cap;

static void put(lua_State *L, const char *s, size_t n) {
  if (scratch_len + n > scratch_cap) {
    size_t cap = scratch_cap ? scratch_cap : 4096;
    while (cap < scratch_len + n) cap *= 2;
    char *b = realloc(scratch, cap);
    if (b == NULL) luaL_error(L, "http_respond: not enough memory");
    scratch = b;
    scratch_cap = cap;
  }
  memcpy(scratch + scratch_len, s, n);
  scratch_len += n;
}

#define PUT(L, lit) put(L, lit, sizeof(lit) - 1)

static void put_uint(lua_State *L, unsigned long long v) {
  char digits[24];
  int n = 0;
  do digits[sizeof digits - 1 - n++] = (char)('0' + v % 10); while ((v /= 10) > 0);
  put(L, digits + sizeof digits - n, (size_t)n);
}

/* ---------------------------------------------------------- the head */

static int name_is(const char *name, size_t n, const char *lower) {
  return strlen(lower) == n && strncasecmp(name, lower, n) == 0;
}

/* The status line; returns the code. */
static int put_status(lua_State *L) {
  PUT(L, "HTTP/1.1 ");
  if (lua_type(L, 2) == LUA_TNUMBER) {
    int ok;
    lua_Integer code = lua_tointegerx(L, 2, &ok);
    if (!ok || code < 100 || code > 999) luaL_error(L, "http_respond: status must be 100 to 999");
    const char *reason = gl_http_reason((int)code);
    put_uint(L, (unsigned long long)code);
    PUT(L, " ");
    if (reason) put(L, reason, strlen(reason));
    else PUT(L, "Unknown");
    PUT(L, "\r\n");
    return (int)code;
  }
  size_t n;
  const char *s = lua_tolstring(L, 2, &n);
  if (s == NULL) luaL_error(L, "http_respond: status must be a number or a string");
  if (n < 3 || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
      s[2] > '9' || (n > 3 && s[3] != ' ') || strcspn(s, "\r\n") != n || strlen(s) != n)
    luaL_error(L, "http_respond: a status string is 3 digits, a space and a reason phrase");
  put(L, s, n);
  PUT(L, "\r\n");
  return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* One header line; the name is at -2, a value at -1 (a string or number). */
static void put_header(lua_State *L, const char *name, size_t n, int capitalize) {
  size_t vn;
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    luaL_error(L, "http_respond: header '%s' has a %s value", name, luaL_typename(L, -1));
  const char *v = lua_tolstring(L, -1, &vn);
  if (strcspn(v, "\r\n") != vn || strlen(v) != vn)
    luaL_error(L, "http_respond: header '%s' has CR, LF or NUL in its value", name);
  size_t at = scratch_len;
  put(L, name, n);
  if (capitalize) {
    int up = 1;
    for (size_t i = at; i < at + n; i++) {
      char c = scratch[i];
      if (up && c >= 'a' && c <= 'z') c = (char)(c - 32);
      else if (!up && c >= 'A' && c <= 'Z') c = (char)(c + 32);
      scratch[i] = c;
      up = c == '-';
    }
  }
  PUT(L, ": ");
  put(L, v, vn);
  PUT(L, "\r\n");
}

/* The app's Content-Length: digits only, else the response is refused. */
static long long parse_length(lua_State *L) {
  size_t n;
  const char *v = lua_tolstring(L, -1, &n);
  long long len = 0;
  if (v == NULL || n == 0 || n > 18) goto bad;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') goto bad;
    len = len * 10 + (v[i] - '0');
  }
  return len;
bad:
  return luaL_error(L, "http_respond: Content-Length must be a non-negative integer");
}

/* Does the value on top hold the token "close"? */
static int says_close(lua_State *L) {
  const char *v = lua_tostring(L, -1);
  for (const char *p = v; p && *p;) {
    p += strspn(p, " \t,");
    size_t n = strcspn(p, " \t,");
    if (n == 5 && strncasecmp(p, "close", 5) == 0) return 1;
    p += n;
  }
  return 0;
}

typedef struct head_info {
  long long declared;  /* the app's Content-Length, or -1 */
  int has_date, app_close;
} head_info;

/* The app's headers, at index 3. */
static void put_headers(lua_State *L, int capitalize, head_info *hi) {
  if (lua_isnoneornil(L, 3)) return;
  if (!lua_istable(L, 3)) luaL_error(L, "http_respond: headers must be a table");
  lua_pushnil(L);
  while (lua_next(L, 3)) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "http_respond: a header name is not a string");
    size_t n;
    const char *name = lua_tolstring(L, -2, &n);
    for (size_t i = 0; i < n; i++)
      if (!gl_http_tchar((unsigned char)name[i]))
        luaL_error(L, "http_respond: header name '%s' is not a token (CR, LF, NUL, space, ':')", name);
    if (n == 0) luaL_error(L, "http_respond: an empty header name");
    int drop = name_is(name, n, "transfer-encoding") || name_is(name, n, "connection");
    int length = name_is(name, n, "content-length");
    if (name_is(name, n, "date")) hi->has_date = 1;
    if (lua_istable(L, -1)) {
      lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
      for (lua_Integer i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, i);
        if (name_is(name, n, "connection") && says_close(L)) hi->app_close = 1;
        if (length) hi->declared = parse_length(L);
        if (!drop) put_header(L, name, n, capitalize);
        lua_pop(L, 1);
      }
    } else {
      if (name_is(name, n, "connection") && lua_isstring(L, -1) && says_close(L)) hi->app_close = 1;
      if (length) hi->declared = parse_length(L);
      if (!drop) put_header(L, name, n, capitalize);
    }
    lua_pop(L, 1);
  }
}

/* A chunk's size line, in hex. */
static void put_chunk_size(lua_State *L, size_t n) {
  char hex[20];
  int i = sizeof hex;
  do hex[--i] = "0123456789abcdef"[n & 15]; while ((n >>= 4) > 0);
  put(L, hex + i, sizeof hex - (size_t)i);
  PUT(L, "\r\n");
}

static int send_on(lua_State *L) {
  return gl_stream_send(L, &gl_sock_check(L, 1, "send")->st);
}

/* Send the scratch as one string from a frame whose slot 1 is the socket;
** the continuation k gets send's results above slot 'keep'. */
static int send_scratch(lua_State *L, int keep, lua_KFunction k) {
  lua_settop(L, keep);
  /* the usual case: the kernel takes it all at once, no string needed */
  gl_sock *s = lua_touserdata(L, 1);
  int done = gl_stream_write_now(&s->st, scratch, scratch_len);
  if (done > 0 && (size_t)done == scratch_len) {
    scratch_len = 0;
    return keep - 1;
  }
  if (done < 0) done = 0;  /* send meets the error again and says it */
  lua_pushcfunction(L, send_on);
  lua_pushvalue(L, 1);
  lua_pushlstring(L, scratch + done, scratch_len - (size_t)done);
  if (scratch_cap > (1 << 20)) {  /* a big body passed through: let it go */
    free(scratch);
    scratch = NULL;
    scratch_cap = 0;
  }
  scratch_len = 0;
  lua_callk(L, 2, LUA_MULTRET, keep, k);
  return k(L, LUA_OK, keep);
}

/* After the send: nil, err; or the values in slots 2..keep. */
static int sent_k(lua_State *L, int status, lua_KContext keep) {
  (void)status;
  if (lua_isnil(L, (int)keep + 1)) {
    lua_pushnil(L);
    lua_pushvalue(L, (int)keep + 2);
    return 2;
  }
  lua_settop(L, (int)keep);
  return (int)keep - 1;
}

/* core.http_respond(sock, status, headers, first, flags) */
static int l_http_respond(lua_State *L) {
  gl_sock *s = gl_http_sock(L, 1, "http_respond");
  if (s->listening) luaL_error(L, "http_respond: the socket is listening");
  size_t flen = 0;
  const char *first = lua_isnoneornil(L, 4) ? "" : lua_tolstring(L, 4, &flen);
  if (first == NULL) luaL_error(L, "http_respond: the body must be a string");
  lua_Integer flags = luaL_optinteger(L, 5, 0);
  int is_head = (flags & GL_HTTP_HEAD) != 0, more = (flags & GL_HTTP_MORE) != 0;
  int http10 = (flags & GL_HTTP_10) != 0;
  scratch_len = 0;
  int code = put_status(L);
  head_info hi = {-1, 0, 0};
  put_headers(L, (flags & GL_HTTP_CAPITALIZE) != 0, &hi);
  int keep = (flags & GL_HTTP_KEEP) && !hi.app_close;
  int no_body = code < 200 || code == 204 || code == 304;
  int mode = GL_HTTP_DONE;
  size_t body = 0;                 /* bytes of first to send */
  int chunk = 0;
  if (hi.declared >= 0) {
    if (!no_body && !is_head) {
      body = flen < (size_t)hi.declared ? flen : (size_t)hi.declared;
      if (flen > (size_t)hi.declared) keep = 0;                  /* more than it said */
      else if (more && flen < (size_t)hi.declared) mode = GL_HTTP_LENGTH;
      else if (flen < (size_t)hi.declared) keep = 0;             /* less: truncated */
    }
  } else if (no_body) {
    /* nothing: no length either */
  } else if (!more) {
    PUT(L, "Content-Length: ");
    put_uint(L, flen);
    PUT(L, "\r\n");
    body = is_head ? 0 : flen;
  } else if (is_head) {
    /* a streamed body's length is unknown: say nothing */
  } else if (http10) {
    mode = GL_HTTP_CLOSE;
    keep = 0;
    body = flen;
  } else {
    PUT(L, "Transfer-Encoding: chunked\r\n");
    mode = GL_HTTP_CHUNKED;
    chunk = flen > 0;
    body = flen;
  }
  if (!keep) PUT(L, "Connection: close\r\n");
  else if (http10) PUT(L, "Connection: keep-alive\r\n");
  if (!hi.has_date) {
    PUT(L, "Date: ");
    put(L, date_now(), 29);
    PUT(L, "\r\n");
  }
  PUT(L, "\r\n");
  if (chunk) put_chunk_size(L, body);
  put(L, first, body);
  if (chunk) PUT(L, "\r\n");
  lua_settop(L, 1);
  lua_pushboolean(L, keep);
  lua_pushinteger(L, mode);
  if (hi.declared >= 0) lua_pushinteger(L, hi.declared);
  else lua_pushnil(L);
  return send_scratch(L, 4, sent_k);
}

/* core.http_chunk(sock, data, last): data as one chunk (none if empty),
** and with last the end of the body. */
static int l_http_chunk(lua_State *L) {
  gl_sock *s = gl_http_sock(L, 1, "http_chunk");
  if (s->listening) luaL_error(L, "http_chunk: the socket is listening");
  size_t n = 0;
  const char *data = lua_isnoneornil(L, 2) ? "" : luaL_checklstring(L, 2, &n);
  int last = lua_toboolean(L, 3);
  scratch_len = 0;
  if (n > 0) {
    put_chunk_size(L, n);
    put(L, data, n);
    PUT(L, "\r\n");
  }
  if (last) PUT(L, "0\r\n\r\n");
  if (scratch_len == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_settop(L, 1);
  lua_pushboolean(L, 1);
  return send_scratch(L, 2, sent_k);
}

void gl_open_http_respond(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"http_respond", l_http_respond}, {"http_chunk", l_http_chunk},
    {"http_date", l_http_date}, {"http_reason", l_http_reason}, {NULL, NULL}
  };
  luaL_setfuncs(L, fns, 0);
  /* the flags, so wsgi.lua takes them from here rather than copying them */
  lua_createtable(L, 0, 5);
  static const struct { const char *name; int flag; } flags[] = {
    {"HTTP10", GL_HTTP_10}, {"KEEP", GL_HTTP_KEEP}, {"HEAD", GL_HTTP_HEAD},
    {"CAPITALIZE", GL_HTTP_CAPITALIZE}, {"MORE", GL_HTTP_MORE}
  };
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    lua_pushinteger(L, flags[i].flag);
    lua_setfield(L, -2, flags[i].name);
  }
  lua_setfield(L, -2, "http_flags");
}
