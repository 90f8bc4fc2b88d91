/*
** tls_ctx.c: OpenSSL contexts for wrap_ssl, cached per option set.
**
** Loading a trust store is the expensive part of a TLS client (the system
** bundle takes ~20 ms, with every green thread stopped), so a context is
** made once per option set and shared by every connection that uses it.
** The cache key holds each option and, for the files, their identity
** (device, inode, size, modification time): a rotated certificate or CA
** file is loaded again by the next wrap, while connections already open
** keep the context they started with. At most CACHE_MAX option sets are
** kept, least recently used first out. An encrypted key is opened with
** opts.password or fails: OpenSSL's default would prompt on the terminal
** with every green thread stopped.
*/
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include <openssl/err.h>
#include "io/tls.h"

#define CACHE_MAX 32

typedef struct cached {
  char *key;
  size_t len;
  SSL_CTX *ctx;
} cached;

static cached cache[CACHE_MAX];  /* most recently used first */
static int ncached;

/* --------------------------------------------------------------- ALPN */

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
  (void)arg;
  alpn_list *ours = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index);
  if (ours == NULL) return SSL_TLSEXT_ERR_NOACK;
  if (SSL_select_next_proto((unsigned char **)out, outlen, ours->wire, ours->len, in, inlen)
      != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  return SSL_TLSEXT_ERR_OK;
}

/* ------------------------------------------------------------ making */

/* A failure while building the context: push "tls: <reason>[: file]". */
static SSL_CTX *ctx_fail(lua_State *L, SSL_CTX *ctx, const char *what, const char *file) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : what;
  if (file) lua_pushfstring(L, "tls: %s: %s", reason, file);
  else lua_pushfstring(L, "tls: %s", reason);
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return NULL;
}

/* An encrypted key's password: the one given, else none. OpenSSL's own
** default would prompt on the terminal, stopping every green thread. */
static int password_cb(char *buf, int size, int rwflag, void *u) {
  (void)rwflag;
  const char *pw = u;
  int n = pw ? (int)strlen(pw) : 0;
  if (n >= size) return 0;
  if (n) memcpy(buf, pw, (size_t)n);
  return n;
}

static SSL_CTX *make(lua_State *L, const gl_tls_opts *o) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
  if (ctx == NULL) return ctx_fail(L, NULL, "cannot create a context", NULL);
  if (SSL_CTX_set_min_proto_version(ctx, o->min_proto ? o->min_proto : TLS1_2_VERSION) != 1
      || (o->max_proto && SSL_CTX_set_max_proto_version(ctx, o->max_proto) != 1))
    return ctx_fail(L, ctx, "cannot set the protocol versions", NULL);
  if (o->ciphers && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1)
    return ctx_fail(L, ctx, "cannot set the cipher list", NULL);
  if (o->ciphersuites && SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) != 1)
    return ctx_fail(L, ctx, "cannot set the cipher suites", NULL);
  if (o->depth >= 0) SSL_CTX_set_verify_depth(ctx, o->depth);
  if (o->server) SSL_CTX_set_tlsext_servername_callback(ctx, gl_tls_servername);
  /* the password is only needed while the key loads: not kept */
  SSL_CTX_set_default_passwd_cb(ctx, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)o->password);
  /* a send that waits for the peer may retry from a moved string */
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (o->certfile) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o->certfile) != 1)
      return ctx_fail(L, ctx, "cannot load the certificate", o->certfile);
    const char *key = o->keyfile ? o->keyfile : o->certfile;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
      return ctx_fail(L, ctx, "cannot load the key", key);
    if (SSL_CTX_check_private_key(ctx) != 1)
      return ctx_fail(L, ctx, "the key does not match the certificate", key);
  }
  SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
  if (o->verify) {
    int fail = o->server && !o->peer_optional ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | fail, NULL);
  }
  /* CA files load even without verify: getpeerverification reports on them */
  if (o->verify || o->cafile || o->capath) {
    if (o->cafile || o->capath
            ? SSL_CTX_load_verify_locations(ctx, o->cafile, o->capath) != 1
            : SSL_CTX_set_default_verify_paths(ctx) != 1)
      return ctx_fail(L, ctx, "cannot load the trusted certificates",
                      o->cafile ? o->cafile : o->capath);
  }
  if (o->alpn) {
    if (o->server) {
      alpn_list *a = malloc(sizeof *a + o->alpn_len);
      if (a == NULL) return ctx_fail(L, ctx, "not enough memory", NULL);
      a->len = (unsigned)o->alpn_len;
      memcpy(a->wire, o->alpn, o->alpn_len);
      SSL_CTX_set_ex_data(ctx, alpn_index, a);
      SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    } else if (SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)o->alpn,
                                       (unsigned)o->alpn_len) != 0) {
      return ctx_fail(L, ctx, "cannot set ALPN", NULL);
    }
  }
  return ctx;
}

/* ------------------------------------------------------------- cache */

/* Add a file option and what identifies its contents to the key. */
static void add_file(luaL_Buffer *b, const char *path) {
  struct stat sb;
  if (path == NULL) {
    luaL_addstring(b, "-|");
    return;
  }
  lua_State *L = b->L;
  if (stat(path, &sb) == 0)
    lua_pushfstring(L, "%d:%s@%I:%I:%I:%I.%I|", (int)strlen(path), path,
                    (lua_Integer)sb.st_dev, (lua_Integer)sb.st_ino, (lua_Integer)sb.st_size,
                    (lua_Integer)sb.st_mtim.tv_sec, (lua_Integer)sb.st_mtim.tv_nsec);
  else
    lua_pushfstring(L, "%d:%s@?|", (int)strlen(path), path);
  luaL_addvalue(b);
}

/* Push the cache key of an option set. */
static void push_key(lua_State *L, const gl_tls_opts *o) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, o->server ? 'S' : 'C');
  luaL_addchar(&b, o->verify ? 'V' : 'N');
  luaL_addchar(&b, o->peer_optional ? 'O' : 'R');
  lua_pushfstring(L, "%d,%d,%d|", o->min_proto, o->max_proto, o->depth);
  luaL_addvalue(&b);
  const char *strs[] = { o->password, o->ciphers, o->ciphersuites };
  for (int i = 0; i < 3; i++) {
    if (strs[i]) lua_pushfstring(L, "%d:%s|", (int)strlen(strs[i]), strs[i]);
    else lua_pushliteral(L, "-|");
    luaL_addvalue(&b);
  }
  add_file(&b, o->certfile);
  add_file(&b, o->keyfile);
  add_file(&b, o->cafile);
  if (o->capath) {
    lua_pushfstring(L, "%d:%s|", (int)strlen(o->capath), o->capath);
    luaL_addvalue(&b);
  } else {
    luaL_addstring(&b, "-|");
  }
  if (o->alpn) luaL_addlstring(&b, o->alpn, o->alpn_len);
  luaL_pushresult(&b);
}

/* Move entry i to the front. */
static void promote(int i) {
  cached c = cache[i];
  memmove(cache + 1, cache, (size_t)i * sizeof *cache);
  cache[0] = c;
}

SSL_CTX *gl_tls_ctx(lua_State *L, const gl_tls_opts *o) {
  if (alpn_index < 0)  /* OpenSSL starts here, not at start-up: scripts without TLS never pay */
    alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_alpn);
  push_key(L, o);
  size_t len;
  const char *key = lua_tolstring(L, -1, &len);
  for (int i = 0; i < ncached; i++) {
    if (cache[i].len == len && memcmp(cache[i].key, key, len) == 0) {
      promote(i);
      lua_pop(L, 1);
      SSL_CTX_up_ref(cache[0].ctx);
      return cache[0].ctx;
    }
  }
  SSL_CTX *ctx = make(L, o);
  if (ctx == NULL) {
    lua_remove(L, -2);  /* the key; the message stays */
    return NULL;
  }
  char *copy = malloc(len ? len : 1);
  if (copy != NULL) {  /* out of memory: just not cached */
    memcpy(copy, key, len);
    if (ncached == CACHE_MAX) {
      ncached--;
      free(cache[ncached].key);
      SSL_CTX_free(cache[ncached].ctx);
    }
    cache[ncached] = (cached){ copy, len, ctx };
    promote(ncached++);
    SSL_CTX_up_ref(ctx);
  }
  lua_pop(L, 1);
  return ctx;
}
