/*
** socket.h: green stream sockets (TCP and Unix) on libuv streams, and what
** the network modules share.
**
** A socket reads through libuv continuously once someone reads from it,
** into its own buffer (never beyond a high-water mark), so a receive takes
** what is already there without switching and blocks only when it must.
** A send writes at once (uv_try_write) and waits only for what the kernel
** would not take. I/O failures return nil, err (LuaSocket's strings:
** "closed", "timeout", "connection refused", ...); misuse raises.
** The libuv handle lives in a separate allocation that outlives the Lua
** object until libuv's close callback, so late completions are harmless.
*/
#ifndef GL_SOCKET_H
#define GL_SOCKET_H

#include <lua.h>
#include <sys/socket.h>
#include <uv.h>
#include "core/hub.h"

typedef struct gl_sock gl_sock;
typedef struct gl_tls gl_tls;

/* What libuv may still touch after the Lua object is gone. */
typedef struct gl_io {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_write_t write_req;
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  gl_sock *owner;          /* NULL once the Lua object is closed or collected */
} gl_io;

enum { GL_TCP, GL_PIPE };

struct gl_sock {
  gl_io *io;               /* NULL once closed */
  int kind;
  unsigned listening : 1, reading : 1, eof : 1, closed : 1, writing : 1,
           shut_send : 1;
  int read_err;            /* sticky read error (a libuv code), 0 if none */
  int write_status;        /* result of the last uv_write */
  int connect_status;
  int accept_err;          /* error from the listener, for accept */
  int pending;             /* connections libuv holds for accept */
  double timeout;          /* per operation, seconds; < 0: none */
  char *buf;               /* received bytes not yet taken: buf[off, off+len) */
  size_t off, len, cap;
  gl_waitq readers, writers, acceptors, connectors;
  gl_tls *tls;             /* set by wrap_ssl */
};

/* The socket userdata's one uservalue: the string an in-flight uv_write
** points into, kept alive until libuv is done with it. */
#define GL_SOCK_UV_WRITING 1

/* Make a socket userdata of 'kind' with a fresh, initialised handle; pushes
** it. 'family' (AF_INET, AF_INET6) creates the OS socket at once, so options
** can be set before bind; AF_UNSPEC leaves that to bind or connect. Raises
** on failure. */
gl_sock *gl_sock_new(lua_State *L, int kind, int family);

/* The socket at 'idx', raising if it is not one or is closed. */
gl_sock *gl_sock_check(lua_State *L, int idx, const char *what);

/* The deadline (uv_hrtime seconds) of an operation starting now under a
** per-operation 'timeout' (< 0: none, -1 returned). */
double gl_deadline(double timeout);

/* In a continuation after a block: keep the frame's first 'top' slots and
** tell whether the wait ended by its deadline. */
int gl_timed_out(lua_State *L, int top);

/* Seconds left until the deadline (uv_hrtime seconds) at 'idx'; -1: none. */
double gl_time_left(lua_State *L, int idx);

/* Push nil and a message for libuv error 'err'; returns 2. */
int gl_sock_fail(lua_State *L, int err);

/* The short lowercase message for a libuv error, LuaSocket style. */
const char *gl_sock_strerror(int err);

/* Room for n more bytes at the end of the socket's buffer, or NULL. Write
** there, then add what was written to s->len. */
char *gl_sock_reserve(gl_sock *s, size_t n);

/* Append bytes to the socket's buffer (plaintext, after TLS). 0 or an error. */
int gl_sock_append(gl_sock *s, const char *data, size_t n);

/* Wake whoever waits to read. */
void gl_sock_wake_readers(gl_sock *s);

/* A reader needs more: start reading unless the stream has ended. */
void gl_sock_want_read(gl_sock *s);

/* Write raw bytes now if the kernel takes them, else queue them with
** uv_write (the string at 'idx' of L is anchored until done). Returns bytes
** written at once, or a negative libuv error; sets s->writing if queued. */
int gl_sock_write_raw(lua_State *L, gl_sock *s, int sidx, const char *data, size_t n);

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
