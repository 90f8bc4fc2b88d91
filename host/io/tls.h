/*
** tls.h: TLS over OpenSSL as a filter on a stream (io/stream.h). Ciphertext
** the stream reads goes into OpenSSL's memory BIO; decrypted bytes land in
** the stream's ordinary buffer, so TLS sockets block, time out and close
** exactly like plain ones. Handshake messages, renegotiation and
** close_notify go out through the stream's wire writer, in order.
**
** Secure by default: a verifying client always checks a name (its
** server_hostname, else the host green.connect connected to; IP literals
** as IP SANs, and never sent as SNI); with neither, wrap_ssl raises; a name
** that cannot be set fails the wrap. Wrapping a stream that holds unread
** plaintext returns nil, "plaintext pending". Contexts are cached per
** option set (tls_ctx.c), so the system trust store is parsed once.
**
** Opened as part of "green.core":
**   core.tls_wrap(sock, opts, host)  attach TLS (client, server, or a
**                              listener whose accepted clients get TLS);
**                              host: where the socket was connected to
**   sock:handshake()           -> true, or nil, err (OpenSSL's reason)
**   sock:alpn()                -> the protocol ALPN selected, or nil
**   sock:tls_sni(names, optss [, strict]) a server's contexts by the name
**                              the client asks for (SNI); strict: refuse
**                              other names
** Beyond wrap_ssl's options, core.tls_wrap takes what LuaSec's contexts
** need: check_hostname = false (a verifying client checks the chain only
** when it has no name), min_protocol/max_protocol ("tlsv1_2", "tlsv1_3"),
** ciphers, ciphersuites, depth, password, peer_optional. A verify callback
** records every verification error (depth, code) for getpeerverification.
** Certificate objects and the peer/info methods: x509.c.
*/
#ifndef GL_TLS_H
#define GL_TLS_H

#include <lua.h>
#include <openssl/ssl.h>

/* The options of a wrap that make its context (tls_ctx.c). */
typedef struct gl_tls_opts {
  int server, verify;
  int peer_optional;      /* a verifying server asks for a certificate, needs none */
  int min_proto, max_proto; /* TLS1_2_VERSION...; 0: TLS 1.2, and no maximum */
  int depth;              /* verify depth; < 0: OpenSSL's */
  const char *certfile, *keyfile, *cafile, *capath;
  const char *password;   /* for an encrypted key; NULL: none (never a prompt) */
  const char *ciphers, *ciphersuites;  /* TLS <= 1.2, 1.3 lists; NULL: OpenSSL's */
  const char *alpn;       /* wire format, or NULL */
  size_t alpn_len;
} gl_tls_opts;

/* The context for these options (a new reference; SSL_CTX_free it), from
** the cache or made now. On failure NULL, with the message pushed. Call
** with room for a few values on L's stack. */
SSL_CTX *gl_tls_ctx(lua_State *L, const gl_tls_opts *o);

/* The OpenSSL connection of the TLS socket at idx, raising (naming
** 'what') for anything else. For x509.c's peer and info methods. */
SSL *gl_tls_check(lua_State *L, int idx, const char *what);

/* The verification errors the handshake met, as OpenSSL reported them
** (also with verify "none"): up to max (depth, X509_V_ERR code) pairs;
** returns how many. */
int gl_tls_verify_errors(SSL *ssl, int *depths, int *codes, int max);

/* Every server context's servername callback: switches to the context
** tls_sni gave for the name. */
int gl_tls_servername(SSL *ssl, int *alert, void *arg);

void gl_open_tls(lua_State *L);
void gl_open_x509(lua_State *L);

#endif
