/*
** proxy.c: the PROXY protocol (HAProxy's, versions 1 and 2) for servers
** behind a load balancer, and the address parsing green.forwarded needs.
** Opened into green.core:
**
**   core.proxy_read(sock, timeout)
**        -> kind, src, src_port, dst, dst_port   (kind "TCP4" or "TCP6";
**           addresses as inet_ntop writes them, ports integers), or
**        -> kind   ("UNKNOWN": v1 UNKNOWN, v2 AF_UNSPEC or AF_UNIX;
**           "LOCAL": v2 LOCAL, a health check: the caller keeps the peer), or
**        -> nil, err ("no PROXY header", "malformed PROXY header: ...",
**           "PROXY header too long", "truncated PROXY header", "timeout",
**           "closed", ...)
**        Reads the header at the start of the socket's stream buffer, as
**        host/http/read.c reads a request head: in place, waiting for more
**        bytes only while what came can still begin a valid header, never
**        past it (what follows stays buffered for the HTTP parser). The
**        whole header must come within 'timeout' seconds (nil: none).
**   core.proxy_parse(s) -> n, kind, ...   (n: the header's length in s),
**        or nil, "incomplete" (a valid beginning), or nil, err: the same
**        parser on a string (for specs and the fuzzer).
**   core.ip_bytes(s) -> the address's bytes (4, or 16 for IPv6; an
**        IPv4-mapped IPv6 address gives its 4), its inet_ntop text, or nil.
**
** Bounds: a v1 line is at most 107 bytes (the specification's own limit);
** a v2 header at most 16 + GL_PROXY_V2_MAX bytes (its address block of up
** to 216 bytes and TLVs, which are skipped). Nothing is allocated per
** header but the result strings.
*/
#include <arpa/inet.h>
#include <string.h>
#include <lauxlib.h>
#include "http/http.h"
#include "http/parser.h"
#include "io/socket.h"
#include "sync/args.h"

#define V1_MAX 107               /* "PROXY TCP6 <39> <39> 65535 65535\r\n" */
#define GL_PROXY_V2_MAX 1024     /* v2 bytes after the 16-byte fixed part */

static const unsigned char V2_SIG[12] = {
  0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

enum { PX_NEED = 0, PX_OK = 1, PX_BAD = -1 };

typedef struct {
  const char *kind;              /* "TCP4", "TCP6", "UNKNOWN", "LOCAL" */
  const char *err;               /* PX_BAD: why */
  size_t n;                      /* PX_OK: the header's length */
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
  unsigned sport, dport;
  int has_addr;
} px_header;

/* The string argument at 1, named for fname in errors. */
static const char *check_string(lua_State *L, const char *fname, size_t *len) {
  if (lua_type(L, 1) != LUA_TSTRING) gl_sync_typeerror(L, 1, fname, "string");
  return lua_tolstring(L, 1, len);
}

static int bad(px_header *h, const char *why) {
  h->err = why;
  return PX_BAD;
}

/* A v1 port: 1 to 5 digits, at most 65535. */
static int v1_port(const char *s, size_t n, unsigned *out) {
  if (n == 0 || n > 5) return 0;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > 65535) return 0;
  *out = v;
  return 1;
}

/* A v1 address of family af, copied to a terminated buffer, canonicalised. */
static int v1_addr(int af, const char *s, size_t n, char *out) {
  char tmp[INET6_ADDRSTRLEN];
  unsigned char bin[16];
  if (n == 0 || n >= sizeof tmp) return 0;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  if (inet_pton(af, tmp, bin) != 1) return 0;
  return inet_ntop(af, bin, out, INET6_ADDRSTRLEN) != NULL;
}

/* "PROXY " then the rest of one line ending in CRLF. */
static int parse_v1(const char *b, size_t len, px_header *h) {
  size_t look = len < V1_MAX ? len : V1_MAX;
  const char *nl = memchr(b, '\n', look);
  if (nl == NULL) return len >= V1_MAX ? bad(h, "PROXY header too long") : PX_NEED;
  size_t end = (size_t)(nl - b);          /* the LF's index */
  if (end < 7 || b[end - 1] != '\r' || b[5] != ' ')
    return bad(h, "malformed PROXY header: not a PROXY v1 line");
  h->n = end + 1;
  const char *p = b + 6, *stop = b + end - 1;
  /* the fields, separated by single spaces */
  const char *f[6];
  size_t fl[6];
  int nf = 0;
  while (p < stop && nf < 6) {
    const char *sp = memchr(p, ' ', (size_t)(stop - p));
    const char *e = sp ? sp : stop;
    f[nf] = p;
    fl[nf] = (size_t)(e - p);
    nf++;
    if (!sp) { p = stop; break; }
    p = sp + 1;
    if (p == stop) return bad(h, "malformed PROXY header: a trailing space");
  }
  if (nf == 0) return bad(h, "malformed PROXY header: no protocol");
  if (fl[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0) {
    h->kind = "UNKNOWN";   /* the rest of the line is to be ignored */
    return PX_OK;
  }
  int af;
  if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0) af = AF_INET, h->kind = "TCP4";
  else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0) af = AF_INET6, h->kind = "TCP6";
  else return bad(h, "malformed PROXY header: unknown protocol");
  if (nf != 5 || p != stop) return bad(h, "malformed PROXY header: expected 4 fields after the protocol");
  for (int i = 1; i < 5; i++)
    if (fl[i] == 0) return bad(h, "malformed PROXY header: an empty field");
  if (!v1_addr(af, f[1], fl[1], h->src) || !v1_addr(af, f[2], fl[2], h->dst))
    return bad(h, "malformed PROXY header: a bad address");
  if (!v1_port(f[3], fl[3], &h->sport) || !v1_port(f[4], fl[4], &h->dport))
    return bad(h, "malformed PROXY header: a bad port");
  h->has_addr = 1;
  return PX_OK;
}

static unsigned be16(const unsigned char *p) {
  return (unsigned)p[0] << 8 | p[1];
}

/* The 12-byte signature, version/command, family/protocol, length, body. */
static int parse_v2(const unsigned char *b, size_t len, px_header *h) {
  if (len < 16) return PX_NEED;
  if (b[12] >> 4 != 2) return bad(h, "malformed PROXY header: unsupported version");
  int cmd = b[12] & 0x0F;
  if (cmd > 1) return bad(h, "malformed PROXY header: unknown command");
  size_t body = be16(b + 14);
  if (body > GL_PROXY_V2_MAX) return bad(h, "PROXY header too long");
  if (len < 16 + body) return PX_NEED;
  h->n = 16 + body;
  int fam = b[13] >> 4, proto = b[13] & 0x0F;
  if (fam > 3 || proto > 2) return bad(h, "malformed PROXY header: unknown family or protocol");
  if (cmd == 0) {
    h->kind = "LOCAL";   /* the proxy's own connection: addresses are to be ignored */
    return PX_OK;
  }
  if (fam == 0 || fam == 3) {
    h->kind = "UNKNOWN";  /* unspecified, or a Unix socket: the peer stays */
    return PX_OK;
  }
  if (proto != 1) return bad(h, "malformed PROXY header: not a stream connection");
  /* family 1 is IPv4, 2 IPv6: the two addresses, then the two ports */
  const unsigned char *a = b + 16;
  int af = fam == 1 ? AF_INET : AF_INET6;
  size_t alen = fam == 1 ? 4 : 16;
  if (body < 2 * alen + 4) return bad(h, "malformed PROXY header: address block too short");
  inet_ntop(af, a, h->src, sizeof h->src);
  inet_ntop(af, a + alen, h->dst, sizeof h->dst);
  h->sport = be16(a + 2 * alen);
  h->dport = be16(a + 2 * alen + 2);
  h->kind = fam == 1 ? "TCP4" : "TCP6";
  h->has_addr = 1;
  return PX_OK;
}

/* What the first 'len' bytes make of a header. A beginning that matches
** neither signature fails at once: the peer is not speaking PROXY. */
static int parse(const unsigned char *b, size_t len, px_header *h) {
  memset(h, 0, sizeof *h);
  if (len == 0) return PX_NEED;
  if (b[0] == 'P') {
    size_t k = len < 5 ? len : 5;
    if (memcmp(b, "PROXY", k) != 0) return bad(h, "no PROXY header");
    if (len < 6) return PX_NEED;
    if (b[5] != ' ') return bad(h, "malformed PROXY header: not a PROXY v1 line");
    return parse_v1((const char *)b, len, h);
  }
  size_t k = len < 12 ? len : 12;
  if (memcmp(b, V2_SIG, k) != 0) return bad(h, "no PROXY header");
  return parse_v2(b, len, h);
}

static int push_header(lua_State *L, const px_header *h) {
  lua_pushstring(L, h->kind);
  if (!h->has_addr) return 1;
  lua_pushstring(L, h->src);
  lua_pushinteger(L, h->sport);
  lua_pushstring(L, h->dst);
  lua_pushinteger(L, h->dport);
  return 5;
}

static int fail(lua_State *L, const char *why) {
  lua_pushnil(L);
  lua_pushstring(L, why);
  return 2;
}

/* core.proxy_parse(s) */
static int l_proxy_parse(lua_State *L) {
  size_t len;
  const char *s = check_string(L, "proxy_parse", &len);
  px_header h;
  int r = parse((const unsigned char *)s, len, &h);
  if (r == PX_NEED) return fail(L, "incomplete");
  if (r == PX_BAD) return fail(L, h.err);
  lua_pushinteger(L, (lua_Integer)h.n);
  return 1 + push_header(L, &h);
}

/* proxy_read's frame: 1 socket, 2 deadline. */
static int read_k(lua_State *L, int status, lua_KContext ctx);

static int read_step(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  gl_stream *st = &s->st;
  if (st->h == NULL) return gl_stream_fail(L, st, UV_ECANCELED);
  gl_stream_pump(st);
  px_header h;
  int r = parse((const unsigned char *)st->buf + st->off, st->len, &h);
  if (r == PX_OK) {
    gl_stream_consume(st, h.n);
    return push_header(L, &h);
  }
  if (r == PX_BAD) return fail(L, h.err);
  if (st->eof || st->read_err) {
    if (st->len == 0) return gl_stream_fail(L, st, st->read_err ? st->read_err : UV_EOF);
    return fail(L, "truncated PROXY header");
  }
  if (st->readers.n > 0)
    return luaL_error(L, "proxy_read: another green thread is reading this socket");
  gl_stream_want_read(st);
  double left = gl_time_left(L, 2);
  if (left == 0) return fail(L, "timeout");
  return gl_block(L, "proxy_read", &st->readers, left, read_k);
}

static int read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 2)) return fail(L, "timeout");
  return read_step(L);
}

/* core.proxy_read(sock, timeout) */
static int l_proxy_read(lua_State *L) {
  gl_sock *s = gl_http_sock(L, 1, "proxy_read");
  if (s->listening) return luaL_error(L, "proxy_read: the socket is listening");
  double timeout = gl_sync_opttimeout(L, 2, "proxy_read");
  /* the header comes before any TLS: a filter would already have eaten it */
  if (s->st.filter) return fail(L, "PROXY protocol over TLS is not supported");
  lua_settop(L, 1);
  lua_pushnumber(L, gl_deadline(timeout));
  return read_step(L);
}

/* core.ip_bytes(s) */
static int l_ip_bytes(lua_State *L) {
  size_t len;
  const char *s = check_string(L, "ip_bytes", &len);
  unsigned char bin[16];
  char text[INET6_ADDRSTRLEN];
  if (len == 0 || len >= sizeof text || memchr(s, '\0', len)) return lua_pushnil(L), 1;
  if (inet_pton(AF_INET, s, bin) == 1) {
    lua_pushlstring(L, (const char *)bin, 4);
    lua_pushstring(L, inet_ntop(AF_INET, bin, text, sizeof text));
    return 2;
  }
  if (inet_pton(AF_INET6, s, bin) != 1) return lua_pushnil(L), 1;
  static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
  if (memcmp(bin, mapped, 12) == 0) lua_pushlstring(L, (const char *)bin + 12, 4);
  else lua_pushlstring(L, (const char *)bin, 16);
  lua_pushstring(L, inet_ntop(AF_INET6, bin, text, sizeof text));
  return 2;
}

void gl_open_http_proxy(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"proxy_read", l_proxy_read}, {"proxy_parse", l_proxy_parse}, {"ip_bytes", l_ip_bytes},
    {NULL, NULL}
  };
  luaL_setfuncs(L, funcs, 0);
}
