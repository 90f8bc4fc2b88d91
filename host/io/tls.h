/*
** tls.h: TLS over OpenSSL for green sockets (wrap_ssl). The socket keeps
** reading ciphertext from libuv into OpenSSL's memory BIO; decrypted bytes
** land in the socket's ordinary buffer, so TLS sockets block, time out and
** close exactly like plain ones. Handshake messages, renegotiation and
** close_notify go out through the same socket, in order.
** Opened as part of "green.core":
**   core.tls_wrap(sock, opts)  attach TLS (client, server, or a listener
**                              whose accepted clients get TLS)
**   sock:handshake()           -> true, or nil, err (OpenSSL's reason)
**   sock:alpn()                -> the protocol ALPN selected, or nil
*/
#ifndef GL_TLS_H
#define GL_TLS_H

#include <lua.h>
#include "io/socket.h"

/* A TLS failure: the message is the socket's (gl_tls_fail). */
#define GL_ETLS (-100001)

/* gl_tls_write must wait for the peer (a renegotiation) and try again. */
#define GL_EWANTREAD (-100002)

/* Ciphertext arrived (data NULL: the network reached end of input).
** 0 or a libuv error / GL_ETLS. Runs from libuv callbacks. */
int gl_tls_feed(gl_sock *s, const char *data, size_t n);

/* Before a read: advance the handshake, decrypt what is buffered. */
int gl_tls_pump(gl_sock *s);

/* Has the handshake completed? */
int gl_tls_done(gl_sock *s);

/* Encrypt 'n' bytes and send them; returns n, or a negative error. Sets
** s->writing while ciphertext waits in libuv. */
int gl_tls_write(lua_State *L, gl_sock *s, int sidx, const char *data, size_t n);

/* Does a send wait for data from the peer (renegotiation)? */
int gl_tls_write_wants_read(gl_sock *s);

/* Push nil and the message for 'err' (GL_ETLS: OpenSSL's reason). */
int gl_tls_fail(lua_State *L, gl_sock *s, int err);

/* A client accepted on a wrapped listener (at 'lidx') is at 'cidx'. */
void gl_tls_accepted(lua_State *L, int lidx, int cidx);

/* Send close_notify (best effort, never blocks). */
void gl_tls_close_notify(lua_State *L, gl_sock *s);

void gl_tls_free(gl_sock *s);

void gl_open_tls(lua_State *L);

#endif
