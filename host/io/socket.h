/*
** socket.h: green stream sockets (TCP and Unix), and what the network
** modules share.
**
** A socket is a stream (io/stream.h: buffering, receive, send, deadlines,
** filters such as TLS) plus what only sockets have: listen and accept,
** connect (net.c), names, options, shutdown. I/O failures return nil, err
** (LuaSocket's strings: "closed", "timeout", "connection refused", ...);
** misuse raises. The libuv handle lives in a separate allocation that
** outlives the Lua object until libuv's close callback, so late
** completions are harmless.
*/
#ifndef GL_SOCKET_H
#define GL_SOCKET_H

#include <lua.h>
#include <sys/socket.h>
#include <uv.h>
#include "core/hub.h"
#include "io/stream.h"

typedef struct gl_sock gl_sock;

/* What libuv may still touch after the Lua object is gone. The handle's
** data is the socket's stream (NULL once detached); the handle comes first,
** so the close callback frees the whole box from it. */
typedef struct gl_io {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_connect_t connect_req;
  gl_sock *owner;          /* NULL once the Lua object is closed or collected */
} gl_io;

enum { GL_TCP, GL_PIPE };

struct gl_sock {
  gl_stream st;            /* first: the userdata is a stream (stream.h) */
  gl_io *io;               /* NULL once closed */
  int kind;
  unsigned listening : 1, closed : 1;
  int connect_status;
  int accept_err;          /* error from the listener, for accept */
  int pending;             /* connections libuv holds for accept */
  gl_waitq acceptors, connectors;
};

/* Make a socket userdata of 'kind' with a fresh, initialised handle; pushes
** it. 'family' (AF_INET, AF_INET6) creates the OS socket at once, so options
** can be set before bind; AF_UNSPEC leaves that to bind or connect. Raises
** on failure. */
gl_sock *gl_sock_new(lua_State *L, int kind, int family);

/* The socket at 'idx', raising if it is not one or is closed. */
gl_sock *gl_sock_check(lua_State *L, int idx, const char *what);

/* The socket at 'idx', or NULL if it is not one. */
gl_sock *gl_sock_test(lua_State *L, int idx);

/* Push nil and a message for libuv error 'err'; returns 2. */
int gl_sock_fail(lua_State *L, int err);

/* The short lowercase message for a libuv error, LuaSocket style. */
const char *gl_sock_strerror(int err);

/* Start listening with 'backlog'; 0 or a libuv error. */
int gl_sock_listen(gl_sock *s, int backlog);

/* Push the ip (string) and port (integer) of an address; returns 2. */
int gl_push_address(lua_State *L, const struct sockaddr *sa);

/* Parse a numeric IPv4 or IPv6 address. 0 or a libuv error. */
int gl_parse_address(const char *ip, int port, struct sockaddr_storage *ss);

/* Close the libuv side now (the Lua object stays, closed). */
void gl_sock_release(gl_sock *s);

void gl_open_socket(lua_State *L);
void gl_open_net(lua_State *L);
void gl_open_udp(lua_State *L);

#endif
