/*
** tls.h: TLS over OpenSSL for green sockets (wrap_ssl). The socket keeps
** reading ciphertext from libuv; OpenSSL turns it into the plaintext buffer
** that receive and recv read, through memory BIOs, so TLS sockets block and
** time out exactly like plain ones.
*/
#ifndef GL_TLS_H
#define GL_TLS_H

#include <lua.h>
#include "socket.h"

/* Ciphertext arrived (data NULL: end of input). 0 or a libuv error. */
int gl_tls_feed(gl_sock *s, const char *data, size_t n);

/* Before a read: run the handshake/decrypt what is buffered. 0 or error. */
int gl_tls_pump(lua_State *L, gl_sock *s);

/* Encrypt and send; returns bytes taken at once, or a negative error. */
int gl_tls_write(lua_State *L, gl_sock *s, int sidx, const char *data, size_t n);

/* A client accepted on a wrapped listener (socket at 'lidx') at 'cidx'. */
void gl_tls_accepted(lua_State *L, int lidx, int cidx);

/* Send close_notify before shutting down the sending side. */
void gl_tls_close_notify(lua_State *L, gl_sock *s);

void gl_tls_free(gl_sock *s);

void gl_open_tls(lua_State *L);

#endif
