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
*/
#ifndef GL_TLS_H
#define GL_TLS_H

#include <lua.h>
#include <openssl/ssl.h>

/* The options of a wrap that make its context (tls_ctx.c). */
typedef struct gl_tls_opts {
  int server, verify;
  const char *certfile, *keyfile, *cafile, *capath;
  const char *alpn;       /* wire format, or NULL */
  size_t alpn_len;
} gl_tls_opts;

/* The context for these options (a new reference; SSL_CTX_free it), from
** the cache or made now. On failure NULL, with the message pushed. Call
** with room for a few values on L's stack. */
SSL_CTX *gl_tls_ctx(lua_State *L, const gl_tls_opts *o);

void gl_open_tls(lua_State *L);

#endif
