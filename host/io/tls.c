/*
** tls.c: OpenSSL behind memory BIOs. See tls.h.
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "io/tls.h"

struct gl_tls {
  SSL_CTX *ctx;       /* shared with the listener's clients (ref-counted) */
  SSL *ssl;           /* NULL on a listener */
  BIO *rbio, *wbio;   /* network -> OpenSSL, OpenSSL -> network */
  int done;           /* handshake completed */
  int queued;         /* ciphertext writes waiting in libuv */
  int write_wants_read;  /* SSL_write waits for the peer (renegotiation) */
  char errmsg[200];
};

/* A ciphertext write that libuv could not take at once. */
typedef struct tls_write {
  uv_write_t req;
  char data[];
} tls_write;

/* ------------------------------------------------------------- errors */

static int fail_with(gl_tls *t, const char *fmt, const char *detail) {
  snprintf(t->errmsg, sizeof t->errmsg, fmt, detail);
  ERR_clear_error();
  return GL_ETLS;
}

/* The reason for a failed SSL call that returned 'ret'. */
static int ssl_failure(gl_sock *s, int ret) {
  gl_tls *t = s->tls;
  int code = SSL_get_error(t->ssl, ret);
  if (code == SSL_ERROR_ZERO_RETURN) return UV_EOF;
  long verify = SSL_get_verify_result(t->ssl);
  if ((SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) && verify != X509_V_OK)
    return fail_with(t, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
  unsigned long e = ERR_peek_last_error();
  if (e) return fail_with(t, "tls: %s", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error");
  if (s->eof || code == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    return UV_EOF;
  }
  return fail_with(t, "tls: %s", "handshake failed");
}

int gl_tls_fail(lua_State *L, gl_sock *s, int err) {
  if (err != GL_ETLS || s->tls == NULL) return gl_sock_fail(L, err);
  lua_pushnil(L);
  lua_pushstring(L, s->tls->errmsg);
  return 2;
}

static int drain(gl_sock *s);

/* ------------------------------------------------------------ writing */

static void on_tls_write(uv_write_t *req, int status) {
  gl_io *io = req->handle->data;
  free(req);
  gl_sock *s = io->owner;
  if (s == NULL || s->tls == NULL) return;
  if (status) s->write_status = status;
  if (--s->tls->queued == 0) {
    s->writing = 0;
    if (s->writers.head) {
      lua_pushnil(gl_H.L);
      gl_wake_one(gl_H.L, &s->writers);
    }
  }
}

/* Send whatever OpenSSL produced, in order: at once while nothing waits in
** libuv, else queued behind it. */
static int flush(gl_sock *s) {
  gl_tls *t = s->tls;
  char chunk[16384];
  size_t pending;
  while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
    int n = BIO_read(t->wbio, chunk, pending < sizeof chunk ? (int)pending : (int)sizeof chunk);
    if (n <= 0) break;
    int done = 0;
    if (t->queued == 0) {
      uv_buf_t b = uv_buf_init(chunk, (unsigned)n);
      done = uv_try_write(&s->io->h.stream, &b, 1);
      if (done == UV_EAGAIN) done = 0;
      if (done < 0) return done;
      if (done == n) continue;
    }
    tls_write *w = malloc(sizeof *w + (size_t)(n - done));
    if (w == NULL) return UV_ENOMEM;
    memcpy(w->data, chunk + done, (size_t)(n - done));
    uv_buf_t b = uv_buf_init(w->data, (unsigned)(n - done));
    int err = uv_write(&w->req, &s->io->h.stream, &b, 1, on_tls_write);
    if (err) {
      free(w);
      return err;
    }
    t->queued++;
    s->writing = 1;
  }
  return 0;
}

int gl_tls_write(lua_State *L, gl_sock *s, int sidx, const char *data, size_t n) {
  (void)L, (void)sidx;
  gl_tls *t = s->tls;
  ERR_clear_error();
  t->write_wants_read = 0;
  int len = n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
  int r = SSL_write(t->ssl, data, len);
  if (r <= 0 && SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ && drain(s) == 0)
    r = SSL_write(t->ssl, data, len);  /* what it waits for may be in already */
  int err = flush(s);
  if (r <= 0) {
    if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ) {  /* renegotiating */
      t->write_wants_read = 1;
      return err ? err : GL_EWANTREAD;
    }
    return ssl_failure(s, r);
  }
  if (err) return err;
  if ((size_t)r < n) return gl_tls_write(L, s, sidx, data + r, n - (size_t)r) < 0 ? GL_ETLS : (int)n;
  return (int)n;
}

int gl_tls_write_wants_read(gl_sock *s) {
  return s->tls && s->tls->write_wants_read;
}

/* ------------------------------------------------------------ reading */

/* Decrypt all that can be: into the socket's buffer. */
static int drain(gl_sock *s) {
  gl_tls *t = s->tls;
  ERR_clear_error();  /* the queue is global: start clean, leave it clean */
  for (;;) {
    char *to = gl_sock_reserve(s, 16384);  /* decrypt in place */
    if (to == NULL) return UV_ENOMEM;
    int r = SSL_read(t->ssl, to, 16384);
    if (r > 0) {
      s->len += (size_t)r;
      continue;
    }
    int code = SSL_get_error(t->ssl, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) break;
    if (code == SSL_ERROR_ZERO_RETURN) {  /* close_notify */
      s->eof = 1;
      break;
    }
    if (s->eof) {  /* the network ended without close_notify */
      ERR_clear_error();
      break;
    }
    return ssl_failure(s, r);
  }
  return flush(s);  /* renegotiation, key updates, tickets */
}

static int advance(gl_sock *s) {
  gl_tls *t = s->tls;
  if (!t->done) {
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    int err = flush(s);
    if (err) return err;
    if (r != 1) {
      int code = SSL_get_error(t->ssl, r);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
        if (s->eof) return UV_EOF;
        return 0;
      }
      return ssl_failure(s, r);
    }
    t->done = 1;
    if (s->writers.head) {  /* a sender waited for the handshake to finish */
      lua_pushnil(gl_H.L);
      gl_wake_one(gl_H.L, &s->writers);
    }
  }
  return drain(s);
}

int gl_tls_feed(gl_sock *s, const char *data, size_t n) {
  gl_tls *t = s->tls;
  if (t->ssl == NULL) return 0;
  if (data == NULL) {
    BIO_set_mem_eof_return(t->rbio, 0);
    return 0;
  }
  if (BIO_write(t->rbio, data, (int)n) != (int)n) return UV_ENOMEM;
  return t->done ? drain(s) : 0;  /* the handshake is driven by its thread */
}

int gl_tls_pump(gl_sock *s) {
  return advance(s);
}

int gl_tls_done(gl_sock *s) {
  return s->tls->done;
}

/* sock:handshake() -> true, or nil, err. Frame: 1 sock, 2 deadline. */
static int handshake_k(lua_State *L, int status, lua_KContext ctx);

static int handshake_step(lua_State *L) {
  gl_sock *s = lua_touserdata(L, 1);
  if (s->closed) return gl_sock_fail(L, UV_ECANCELED);
  int err = advance(s);
  if (err) return gl_tls_fail(L, s, err);
  if (s->tls->done) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (s->eof || s->read_err) return gl_sock_fail(L, s->read_err ? s->read_err : UV_EOF);
  if (s->readers.n > 0)
    return luaL_error(L, "handshake: another green thread is reading this socket");
  gl_sock_want_read(s);
  double left = gl_time_left(L, 2);
  lua_settop(L, 2);
  return gl_block(L, "handshake", &s->readers, left, handshake_k);
}

static int handshake_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (gl_timed_out(L, 2)) return gl_sock_fail(L, UV_ETIMEDOUT);
  return handshake_step(L);
}

static int l_handshake(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "handshake");
  if (s->tls == NULL || s->tls->ssl == NULL)
    return luaL_error(L, "handshake: not a TLS connection (wrap it with wrap_ssl)");
  lua_settop(L, 1);
  lua_pushnumber(L, gl_deadline(s->timeout));
  return handshake_step(L);
}

static int l_alpn(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "alpn");
  const unsigned char *proto = NULL;
  unsigned len = 0;
  if (s->tls && s->tls->ssl) SSL_get0_alpn_selected(s->tls->ssl, &proto, &len);
  if (len == 0) lua_pushnil(L);
  else lua_pushlstring(L, (const char *)proto, len);
  return 1;
}

/* ------------------------------------------------------------ set-up */

void gl_tls_close_notify(lua_State *L, gl_sock *s) {
  (void)L;
  gl_tls *t = s->tls;
  if (t == NULL || t->ssl == NULL || !t->done || s->io == NULL) return;
  SSL_shutdown(t->ssl);
  flush(s);
  ERR_clear_error();
}

void gl_tls_free(gl_sock *s) {
  gl_tls *t = s->tls;
  if (t == NULL) return;
  if (t->ssl && t->done && s->io && !s->shut_send) {  /* best-effort close_notify */
    SSL_shutdown(t->ssl);
    flush(s);
  }
  ERR_clear_error();
  if (t->ssl) SSL_free(t->ssl);  /* frees the BIOs */
  SSL_CTX_free(t->ctx);
  free(t);
  s->tls = NULL;
}

static int attach(gl_sock *s, SSL_CTX *ctx, int server, const char *hostname) {
  gl_tls *t = calloc(1, sizeof *t);
  if (t == NULL) return UV_ENOMEM;
  SSL_CTX_up_ref(ctx);
  t->ctx = ctx;
  s->tls = t;
  if (s->listening) return 0;
  t->ssl = SSL_new(ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    return UV_ENOMEM;
  }
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  if (server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (hostname) {
      SSL_set_tlsext_host_name(t->ssl, hostname);
      if (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) SSL_set1_host(t->ssl, hostname);
    }
  }
  return 0;
}

void gl_tls_accepted(lua_State *L, int lidx, int cidx) {
  gl_sock *listener = lua_touserdata(L, lidx), *client = lua_touserdata(L, cidx);
  if (attach(client, listener->tls->ctx, 1, NULL) != 0) gl_sock_release(client);
}

/* The server's ALPN protocols, in wire format, freed with its SSL_CTX. */
typedef struct alpn_list {
  unsigned len;
  unsigned char wire[];
} alpn_list;

static int alpn_index = -1;

static void free_alpn(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
  free(ptr);
}

/* Server side: the first of our protocols that the client offers. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl, (void)arg;
  alpn_list *ours = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index);
  if (ours == NULL) return SSL_TLSEXT_ERR_NOACK;
  if (SSL_select_next_proto((unsigned char **)out, outlen, ours->wire, ours->len, in, inlen)
      != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  return SSL_TLSEXT_ERR_OK;
}

/* opts.alpn (an array of strings) in wire format, pushed as a string. */
static int push_alpn_wire(lua_State *L, int opts) {
  if (lua_getfield(L, opts, "alpn") == LUA_TNIL) return 0;
  luaL_argcheck(L, lua_istable(L, -1), 2, "alpn must be an array of strings");
  luaL_Buffer b;
  int list = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; lua_rawgeti(L, list, i) != LUA_TNIL; i++) {
    size_t n;
    const char *p = lua_tolstring(L, -1, &n);
    luaL_argcheck(L, p && n > 0 && n < 256, 2, "alpn: protocols are strings of 1 to 255 bytes");
    lua_pop(L, 1);
    luaL_addchar(&b, (char)n);
    luaL_addlstring(&b, p, n);
  }
  lua_pop(L, 1);
  luaL_pushresult(&b);
  return 1;
}

static const char *opt_string(lua_State *L, int opts, const char *key) {
  lua_getfield(L, opts, key);
  const char *v = lua_tostring(L, -1);
  if (v == NULL && !lua_isnil(L, -1)) luaL_error(L, "wrap_ssl: opts.%s must be a string", key);
  lua_pop(L, 1);  /* opts keeps the string alive */
  return v;
}

/* A failure while building the context: nil, "tls: <reason>[: file]". */
static int ctx_fail(lua_State *L, SSL_CTX *ctx, const char *what, const char *file) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : what;
  ERR_clear_error();
  SSL_CTX_free(ctx);
  lua_pushnil(L);
  if (file) lua_pushfstring(L, "tls: %s: %s", reason, file);
  else lua_pushfstring(L, "tls: %s", reason);
  return 2;
}

/* tls_wrap(sock, opts) -> true, or nil, err */
static int l_tls_wrap(lua_State *L) {
  gl_sock *s = gl_sock_check(L, 1, "wrap_ssl");
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  if (s->tls) return luaL_error(L, "wrap_ssl: the socket is wrapped already");
  lua_getfield(L, 2, "server_side");
  int server = lua_toboolean(L, -1);
  lua_pop(L, 1);
  const char *certfile = opt_string(L, 2, "certfile");
  const char *keyfile = opt_string(L, 2, "keyfile");
  const char *cafile = opt_string(L, 2, "cafile");
  const char *hostname = opt_string(L, 2, "server_hostname");
  const char *verify = opt_string(L, 2, "verify");
  int verify_peer = verify ? strcmp(verify, "peer") == 0 : !server;
  if (verify && !verify_peer && strcmp(verify, "none") != 0)
    return luaL_error(L, "wrap_ssl: opts.verify must be \"none\" or \"peer\"");
  if (server && certfile == NULL) return luaL_error(L, "wrap_ssl: a server needs opts.certfile");
  if (s->listening && !server) return luaL_error(L, "wrap_ssl: a listening socket needs opts.server_side");

  int alpn = push_alpn_wire(L, 2);  /* may raise: before anything is allocated */
  if (alpn_index < 0)  /* OpenSSL starts here, not at start-up: scripts without TLS never pay */
    alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_alpn);
  SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == NULL) return ctx_fail(L, NULL, "cannot create a context", NULL);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (certfile) {
    if (SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1)
      return ctx_fail(L, ctx, "cannot load the certificate", certfile);
    const char *key = keyfile ? keyfile : certfile;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
      return ctx_fail(L, ctx, "cannot load the key", key);
    if (SSL_CTX_check_private_key(ctx) != 1)
      return ctx_fail(L, ctx, "the key does not match the certificate", key);
  }
  if (verify_peer) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    if (cafile ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1
               : SSL_CTX_set_default_verify_paths(ctx) != 1)
      return ctx_fail(L, ctx, "cannot load the trusted certificates", cafile);
  }
  if (alpn) {
    size_t n;
    const char *wire = lua_tolstring(L, -1, &n);
    if (server) {
      alpn_list *a = malloc(sizeof *a + n);
      if (a == NULL) return ctx_fail(L, ctx, "not enough memory", NULL);
      a->len = (unsigned)n;
      memcpy(a->wire, wire, n);
      SSL_CTX_set_ex_data(ctx, alpn_index, a);
      SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    } else if (SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)wire, (unsigned)n) != 0) {
      return ctx_fail(L, ctx, "cannot set ALPN", NULL);
    }
    lua_pop(L, 1);
  }
  int err = attach(s, ctx, server, hostname);
  SSL_CTX_free(ctx);  /* attach holds its own reference */
  if (err) {
    gl_tls_free(s);
    return gl_sock_fail(L, err);
  }
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
  lua_pop(L, 1);
}
