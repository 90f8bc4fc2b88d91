/*
** tls.c: the TLS filter (OpenSSL behind memory BIOs) and wrap_ssl. See
** tls.h. Two filters: one on a connection (feed, pump, write), one on a
** listener, which only gives each accepted stream a connection filter.
** Nothing here wakes threads or touches waiters: the stream does that.
*/
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "io/socket.h"
#include "io/tls.h"

#define MAX_VERR 16

typedef struct gl_tls {
  SSL_CTX *ctx;       /* a listener's, for its clients; NULL on a connection */
  SSL *ssl;           /* NULL on a listener */
  BIO *rbio, *wbio;   /* wire -> OpenSSL, OpenSSL -> wire */
  int done;           /* handshake completed */
  int failed;         /* a fatal error: errmsg says what */
  int peer_closed;    /* close_notify received */
  int nverr;          /* verification errors recorded (at most MAX_VERR) */
  int verr_depth[MAX_VERR], verr_code[MAX_VERR];
  int nsni, sni_strict;  /* a server's contexts by SNI name (tls_sni) */
  char **sni_names;
  SSL_CTX **sni_ctx;
  char errmsg[200];
} gl_tls;

static const gl_filter tls_conn, tls_listener;

/* ------------------------------------------------------------- errors */

static int fail_with(gl_tls *t, const char *fmt, const char *detail) {
  snprintf(t->errmsg, sizeof t->errmsg, fmt, detail);
  ERR_clear_error();
  t->failed = 1;
  return GL_EFILTER;
}

/* The reason for a failed SSL call that returned 'ret'. */
static int ssl_failure(gl_stream *st, int ret) {
  gl_tls *t = st->fctx;
  int code = SSL_get_error(t->ssl, ret);
  if (code == SSL_ERROR_ZERO_RETURN) return UV_EOF;
  long verify = SSL_get_verify_result(t->ssl);
  if ((SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) && verify != X509_V_OK)
    return fail_with(t, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
  unsigned long e = ERR_peek_last_error();
  if (e) return fail_with(t, "tls: %s", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error");
  if (st->eof || code == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    return UV_EOF;
  }
  return fail_with(t, "tls: %s", "handshake failed");
}

static const char *tls_error(gl_stream *st) {
  return ((gl_tls *)st->fctx)->errmsg;
}

/* ------------------------------------------------------------ the wire */

/* Send whatever OpenSSL produced, in order (the stream queues what the
** kernel does not take). */
static int flush(gl_stream *st) {
  static char chunk[GL_FILTER_CHUNK + 4096];  /* one write's records; flush never nests */
  gl_tls *t = st->fctx;
  size_t pending;
  while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
    int n = BIO_read(t->wbio, chunk, pending < sizeof chunk ? (int)pending : (int)sizeof chunk);
    if (n <= 0) break;
    int err = gl_stream_wire(st, chunk, (size_t)n);
    if (err) return err;
  }
  return 0;
}

/* Decrypt all that can be, into the stream's buffer. */
static int drain(gl_stream *st) {
  gl_tls *t = st->fctx;
  ERR_clear_error();  /* the queue is global: start clean, leave it clean */
  for (;;) {
    char *to = gl_stream_reserve(st, 16384);  /* decrypt in place */
    if (to == NULL) return UV_ENOMEM;
    int r = SSL_read(t->ssl, to, 16384);
    if (r > 0) {
      gl_stream_commit(st, (size_t)r);
      continue;
    }
    int code = SSL_get_error(t->ssl, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) break;
    if (code == SSL_ERROR_ZERO_RETURN) {  /* close_notify */
      t->peer_closed = 1;
      break;
    }
    if (st->eof) {  /* the wire ended without close_notify */
      ERR_clear_error();
      break;
    }
    return ssl_failure(st, r);
  }
  return flush(st);  /* renegotiation, key updates, tickets */
}

/* After a drain: the end of the plaintext, if the peer said so. */
static int drained(gl_stream *st, int err) {
  return err ? err : ((gl_tls *)st->fctx)->peer_closed ? UV_EOF : 0;
}

/* -------------------------------------------------- the connection filter */

static int tls_feed(gl_stream *st, const char *data, size_t n) {
  gl_tls *t = st->fctx;
  if (t->failed) return GL_EFILTER;
  if (data == NULL) {
    BIO_set_mem_eof_return(t->rbio, 0);
    return 0;
  }
  if (BIO_write(t->rbio, data, (int)n) != (int)n) return UV_ENOMEM;  /* n <= 64 KB */
  return t->done ? drained(st, drain(st)) : 0;  /* the handshake is driven by a thread */
}

static int tls_pump(gl_stream *st) {
  gl_tls *t = st->fctx;
  if (t->failed) return GL_EFILTER;
  if (!t->done) {
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    int code = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
    int err = flush(st);
    if (err) return err;
    if (r != 1) {
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return st->eof ? UV_EOF : 0;
      return ssl_failure(st, r);
    }
    t->done = 1;
  }
  return drained(st, drain(st));
}

static int tls_ready(gl_stream *st) {
  return ((gl_tls *)st->fctx)->done;
}

static int tls_write(gl_stream *st, const char *data, size_t n) {
  gl_tls *t = st->fctx;
  if (t->failed) return GL_EFILTER;
  ERR_clear_error();
  int r = SSL_write(t->ssl, data, (int)n);  /* n <= GL_FILTER_CHUNK */
  if (r <= 0 && SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ && drain(st) == 0)
    r = SSL_write(t->ssl, data, (int)n);  /* what it waits for may be in already */
  int code = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
  int err = flush(st);
  if (r <= 0) {
    if (code == SSL_ERROR_WANT_READ) return err ? err : GL_EWANTREAD;  /* renegotiating */
    return ssl_failure(st, r);
  }
  return err ? err : r;
}

static void tls_shutdown(gl_stream *st) {
  gl_tls *t = st->fctx;
  if (t->ssl == NULL || !t->done || t->failed) return;
  SSL_shutdown(t->ssl);
  flush(st);
  ERR_clear_error();
}

static void free_sni(gl_tls *t) {
  for (int i = 0; i < t->nsni; i++) {
    free(t->sni_names[i]);
    SSL_CTX_free(t->sni_ctx[i]);
  }
  free(t->sni_names);
  free(t->sni_ctx);
  t->nsni = 0;
  t->sni_names = NULL;
  t->sni_ctx = NULL;
}

static void tls_free(gl_stream *st) {
  gl_tls *t = st->fctx;
  if (!st->shut_send) tls_shutdown(st);  /* best-effort close_notify */
  ERR_clear_error();
  if (t->ssl) SSL_free(t->ssl);  /* frees the BIOs */
  if (t->ctx) SSL_CTX_free(t->ctx);
  free_sni(t);
  free(t);
}

static const gl_filter tls_conn = {
  "tls", tls_feed, tls_pump, tls_ready, tls_write, tls_shutdown, tls_error, tls_free, NULL
};

/* OpenSSL's verdict on each certificate: kept for getpeerverification,
** never changed (so "none" still records, and "peer" still fails). */
static int verify_cb(int ok, X509_STORE_CTX *store) {
  SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  gl_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
  if (!ok && t && t->nverr < MAX_VERR) {
    t->verr_depth[t->nverr] = X509_STORE_CTX_get_error_depth(store);
    t->verr_code[t->nverr++] = X509_STORE_CTX_get_error(store);
  }
  return ok;
}

int gl_tls_verify_errors(SSL *ssl, int *depths, int *codes, int max) {
  gl_tls *t = SSL_get_app_data(ssl);
  int n = t == NULL ? 0 : t->nverr < max ? t->nverr : max;
  for (int i = 0; i < n; i++) {
    depths[i] = t->verr_depth[i];
    codes[i] = t->verr_code[i];
  }
  return n;
}

/* Server side: the context for the name the client asked for (tls_sni). */
int gl_tls_servername(SSL *ssl, int *alert, void *arg) {
  (void)arg;
  gl_tls *t = SSL_get_app_data(ssl);
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (t == NULL || t->nsni == 0) return SSL_TLSEXT_ERR_OK;
  for (int i = 0; name && i < t->nsni; i++) {
    if (strcasecmp(name, t->sni_names[i]) == 0) {
      SSL_set_SSL_CTX(ssl, t->sni_ctx[i]);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  if (!t->sni_strict) return SSL_TLSEXT_ERR_OK;
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Put TLS on stream 'st' with 'ctx' (which the SSL references). A client
** checks 'name' (NULL: none) if the context verifies. 0, UV_ENOMEM, or
** GL_EFILTER (with *why set): a name that cannot be set fails, never opens. */
static int attach(gl_stream *st, SSL_CTX *ctx, int server, const char *name, size_t namelen,
                  const char **why) {
  gl_tls *t = calloc(1, sizeof *t);
  if (t == NULL) return UV_ENOMEM;
  t->ssl = SSL_new(ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
    SSL_free(t->ssl);
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    free(t);
    ERR_clear_error();
    return UV_ENOMEM;
  }
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_app_data(t->ssl, t);
  SSL_set_verify(t->ssl, SSL_get_verify_mode(t->ssl), verify_cb);
  if (server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    int verify = (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) != 0;
    if (name) {
      X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
      unsigned char ip[16];
      int ok = namelen > 0 && memchr(name, '\0', namelen) == NULL;
      if (ok && (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)) {
        /* an IP literal: checked against the IP SANs, never sent as SNI */
        if (verify) ok = X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1;
      } else if (ok) {
        ok = SSL_set_tlsext_host_name(t->ssl, name) == 1;
        if (ok && verify) {
          X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          ok = X509_VERIFY_PARAM_set1_host(param, name, namelen) == 1;
        }
      }
      if (!ok) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        *why = "tls: cannot check the server name (invalid name)";
        return GL_EFILTER;
      }
    }
  }
  st->fctx = t;
  st->filter = &tls_conn;
  return 0;
}

/* ---------------------------------------------------- the listener filter */

static int tls_accept(gl_stream *listener, gl_stream *client) {
  const char *why = NULL;
  int err = attach(client, ((gl_tls *)listener->fctx)->ctx, 1, NULL, 0, &why);
  return err == GL_EFILTER ? UV_ENOMEM : err;
}

/* A listener carries no bytes (socket.c refuses I/O on it): say so. */
static int listener_io(gl_stream *st) {
  return fail_with(st->fctx, "%s", "a listening socket carries no data");
}
static int listener_feed(gl_stream *st, const char *data, size_t n) {
  (void)data, (void)n;
  return listener_io(st);
}
static int listener_ready(gl_stream *st) {
  (void)st;
  return 0;
}
static int listener_write(gl_stream *st, const char *data, size_t n) {
  (void)data, (void)n;
  return listener_io(st);
}

static const gl_filter tls_listener = {
  "tls", listener_feed, listener_io, listener_ready, listener_write, tls_shutdown, tls_error,
  tls_free, tls_accept
};

/* ------------------------------------------------------- Lua methods */

/* The TLS connection at index 1, raising with 'what' if it is not one. */
static gl_sock *check_tls(lua_State *L, const char *what) {
  gl_sock *s = gl_sock_check(L, 1, what);
  if (s->st.filter != &tls_conn)
    luaL_error(L, "%s: not a TLS connection (wrap it with wrap_ssl)", what);
  return s;
}

SSL *gl_tls_check(lua_State *L, int idx, const char *what) {
  gl_sock *s = gl_sock_check(L, idx, what);
  if (s->st.filter != &tls_conn)
    luaL_error(L, "%s: not a TLS connection (wrap it with wrap_ssl)", what);
  return ((gl_tls *)s->st.fctx)->ssl;
}

/* sock:handshake() -> true, or nil, err */
static int l_handshake(lua_State *L) {
  return gl_stream_handshake(L, &check_tls(L, "handshake")->st);
}

/* sock:alpn() -> the protocol ALPN selected, or nil (also on plain sockets) */
static int l_alpn(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "alpn");
  const unsigned char *proto = NULL;
  unsigned len = 0;
  if (s->st.filter == &tls_conn) SSL_get0_alpn_selected(((gl_tls *)s->st.fctx)->ssl, &proto, &len);
  if (len == 0) lua_pushnil(L);
  else lua_pushlstring(L, (const char *)proto, len);
  return 1;
}

/* ------------------------------------------------------------ wrap_ssl */

/* Misuse of wrap_ssl: raise at its caller's line (level 0 is this C
** function, 1 net.lua's wrap_ssl, 2 the script). */
static int misuse(lua_State *L, const char *fmt, const char *detail) {
  luaL_where(L, 2);
  lua_pushfstring(L, fmt, detail);
  lua_concat(L, 2);
  return lua_error(L);
}

/* opts[key] (the table at 'idx'): a string without NUL (a path or a
** name), or NULL if absent. */
static const char *opt_string(lua_State *L, int idx, const char *key, size_t *len) {
  size_t n = 0;
  lua_getfield(L, idx, key);
  const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
  if (v == NULL && !lua_isnil(L, -1)) misuse(L, "wrap_ssl: opts.%s must be a string", key);
  lua_pop(L, 1);  /* opts keeps the string alive */
  if (v && len) *len = n;
  else if (v && strlen(v) != n) misuse(L, "wrap_ssl: opts.%s contains a NUL byte", key);
  return v;
}

/* opts.alpn (an array of strings) in wire format, pushed as a string. */
static int push_alpn_wire(lua_State *L, int idx) {
  if (lua_getfield(L, idx, "alpn") == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1)) misuse(L, "wrap_ssl: opts.%s must be an array of strings", "alpn");
  luaL_Buffer b;
  int list = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= 1000 && lua_rawgeti(L, list, i) != LUA_TNIL; i++) {
    size_t n;
    const char *p = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (p == NULL || n == 0 || n > 255)
      misuse(L, "wrap_ssl: opts.%s: protocols are strings of 1 to 255 bytes", "alpn");
    lua_pop(L, 1);
    luaL_addchar(&b, (char)n);
    luaL_addlstring(&b, p, n);
  }
  lua_pop(L, 1);
  luaL_pushresult(&b);
  lua_remove(L, list);
  return 1;
}

static int opt_bool(lua_State *L, int idx, const char *key, int dflt) {
  int t = lua_getfield(L, idx, key), v = t == LUA_TNIL ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int opt_proto(lua_State *L, int idx, const char *key) {
  const char *v = opt_string(L, idx, key, NULL);
  if (v == NULL) return 0;
  if (strcmp(v, "tlsv1_2") == 0) return TLS1_2_VERSION;
  if (strcmp(v, "tlsv1_3") == 0) return TLS1_3_VERSION;
  return misuse(L, "wrap_ssl: opts.%s must be \"tlsv1_2\" or \"tlsv1_3\"", key);
}

/* The context options of the table at 'idx' (misuse raises; pushes the
** ALPN wire string if there is one, which o->alpn points into). */
static void read_opts(lua_State *L, int idx, gl_tls_opts *o) {
  memset(o, 0, sizeof *o);
  o->server = opt_bool(L, idx, "server_side", 0);
  o->peer_optional = opt_bool(L, idx, "peer_optional", 0);
  o->certfile = opt_string(L, idx, "certfile", NULL);
  o->keyfile = opt_string(L, idx, "keyfile", NULL);
  o->cafile = opt_string(L, idx, "cafile", NULL);
  o->capath = opt_string(L, idx, "capath", NULL);
  o->password = opt_string(L, idx, "password", NULL);
  o->ciphers = opt_string(L, idx, "ciphers", NULL);
  o->ciphersuites = opt_string(L, idx, "ciphersuites", NULL);
  o->min_proto = opt_proto(L, idx, "min_protocol");
  o->max_proto = opt_proto(L, idx, "max_protocol");
  o->depth = -1;
  if (lua_getfield(L, idx, "depth") != LUA_TNIL) {
    int isnum;
    lua_Integer d = lua_tointegerx(L, -1, &isnum);
    if (!isnum || d < 0 || d > 100) misuse(L, "wrap_ssl: opts.%s must be an integer from 0 to 100", "depth");
    o->depth = (int)d;
  }
  lua_pop(L, 1);
  const char *verify = opt_string(L, idx, "verify", NULL);
  o->verify = verify ? strcmp(verify, "peer") == 0 : !o->server;
  if (verify && !o->verify && strcmp(verify, "none") != 0)
    misuse(L, "wrap_ssl: opts.verify must be \"none\" or \"peer\"%s", "");
  if (o->server && o->certfile == NULL) misuse(L, "wrap_ssl: a server needs opts.certfile%s", "");
  if (push_alpn_wire(L, idx)) o->alpn = lua_tolstring(L, -1, &o->alpn_len);
}

/* tls_wrap(sock, opts [, host]) -> true, or nil, err */
static int l_tls_wrap(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "wrap_ssl");
  gl_stream *st = &s->st;
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 3);
  if (st->filter) return misuse(L, "wrap_ssl: the %s is wrapped already", "socket");
  size_t namelen = 0;
  const char *name = opt_string(L, 2, "server_hostname", &namelen);
  if (name == NULL && lua_type(L, 3) == LUA_TSTRING) name = lua_tolstring(L, 3, &namelen);
  int check_hostname = opt_bool(L, 2, "check_hostname", 1);
  gl_tls_opts o;
  read_opts(L, 2, &o);  /* may raise: before anything is allocated */
  if (s->listening && !o.server)
    return misuse(L, "wrap_ssl: a listening socket needs opts.server_side%s", "");
  if (!o.server && o.verify && name == NULL && check_hostname)
    return misuse(L, "wrap_ssl: a verifying client needs the server's name: give "
                  "opts.server_hostname (or connect with green.connect, or verify = \"none\")%s", "");
  if (st->readers.n > 0 || st->writers.n > 0)
    return misuse(L, "wrap_ssl: another green thread is using the %s", "socket");
  if (st->len > 0) {
    /* STARTTLS: bytes received in clear must never pass as if they came
    ** over TLS (the socket stays as it is: plain) */
    lua_pushnil(L);
    lua_pushliteral(L, "plaintext pending");
    return 2;
  }
  SSL_CTX *ctx = gl_tls_ctx(L, &o);
  if (ctx == NULL) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  int err = 0;
  const char *why = NULL;
  if (s->listening) {
    gl_tls *t = calloc(1, sizeof *t);
    if (t == NULL) err = UV_ENOMEM;
    else {
      t->ctx = ctx;  /* our reference, for the clients */
      ctx = NULL;
      st->fctx = t;
      st->filter = &tls_listener;
    }
  } else {
    err = attach(st, ctx, o.server, name, namelen, &why);
  }
  SSL_CTX_free(ctx);  /* the SSL (or the listener) holds its own reference */
  if (err == GL_EFILTER) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  if (err) return gl_sock_fail(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:tls_sni(names, optss [, strict]) -> true, or nil, err: a server
** connection not yet handshaking serves names[i] with the context of
** optss[i] (server options as for tls_wrap); strict refuses other names. */
static int l_tls_sni(lua_State *L) {
  gl_sock *s = check_tls(L, "tls_sni");
  gl_tls *t = s->st.fctx;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  int strict = lua_toboolean(L, 4);
  lua_settop(L, 3);
  if (!SSL_is_server(t->ssl) || t->done || SSL_get_state(t->ssl) != TLS_ST_BEFORE)
    return luaL_error(L, "tls_sni: only a server connection that has not started its handshake");
  lua_Integer n = luaL_len(L, 2);
  if (n < 0 || n > 1000 || luaL_len(L, 3) != n)
    return luaL_error(L, "tls_sni: names and optss must be arrays of the same length (at most 1000)");
  for (lua_Integer i = 1; i <= n; i++) {  /* check everything before allocating */
    if (lua_rawgeti(L, 2, i) != LUA_TSTRING) return luaL_error(L, "tls_sni: names[%d] must be a string", (int)i);
    if (lua_rawgeti(L, 3, i) != LUA_TTABLE) return luaL_error(L, "tls_sni: optss[%d] must be a table", (int)i);
    lua_pop(L, 2);
  }
  free_sni(t);
  t->sni_names = calloc((size_t)n + 1, sizeof *t->sni_names);
  t->sni_ctx = calloc((size_t)n + 1, sizeof *t->sni_ctx);
  if (t->sni_names == NULL || t->sni_ctx == NULL) {
    free_sni(t);
    return gl_sock_fail(L, UV_ENOMEM);
  }
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 3, i);
    gl_tls_opts o;
    read_opts(L, lua_gettop(L), &o);
    o.server = 1;
    if (o.certfile == NULL) {
      free_sni(t);
      return misuse(L, "wrap_ssl: a server needs opts.certfile%s", "");
    }
    SSL_CTX *ctx = gl_tls_ctx(L, &o);
    if (ctx == NULL) {
      free_sni(t);
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;
    }
    lua_rawgeti(L, 2, i);
    t->sni_names[i - 1] = strdup(lua_tostring(L, -1));
    t->sni_ctx[i - 1] = ctx;
    t->nsni = (int)i;
    if (t->sni_names[i - 1] == NULL) {
      free_sni(t);
      return gl_sock_fail(L, UV_ENOMEM);
    }
    lua_settop(L, 3);
  }
  t->sni_strict = strict;
  lua_pushboolean(L, 1);
  return 1;
}

void gl_open_tls(lua_State *L) {
  lua_pushcfunction(L, l_tls_wrap);
  lua_setfield(L, -2, "tls_wrap");
  lua_getfield(L, -1, "SocketMethods");
  lua_pushcfunction(L, l_handshake);
  lua_setfield(L, -2, "handshake");
  lua_pushcfunction(L, l_alpn);
  lua_setfield(L, -2, "alpn");
  lua_pushcfunction(L, l_tls_sni);
  lua_setfield(L, -2, "tls_sni");
  lua_pop(L, 1);
}
