/*
** stream.h: a green byte stream over any libuv stream (TCP, Unix sockets;
** next pipes and TTYs). Nothing here knows what kind of handle it reads.
**
** The contract:
**  - Reading: once someone reads, libuv reads continuously into the
**    stream's buffer, up to a high-water mark while nobody waits (a reader
**    that needs more, a long line say, keeps it going). A receive takes what
**    is buffered without switching and blocks only when it must. Buffers
**    shrink again after a burst. A line search never rescans what it
**    scanned before. receive patterns are LuaSocket's: "*l"/"l" (a line,
**    LF and a CR before it stripped), "*a"/"a" (until the end), a byte count;
**    recv(max) returns what is there as soon as anything is.
**  - Limits: with max_line set, a line whose content exceeds it makes
**    receive("*l") return nil, "line too long" and consume nothing: the
**    bytes stay buffered (read them with a count, or close), and reading
**    stops once more than the limit is buffered with no newline in it, so
**    a peer cannot make the buffer grow without bound.
**  - Writing: send tries the kernel at once and waits (back-pressure) only
**    for what it would not take, in pieces of at most GL_STREAM_PIECE bytes,
**    so sizes are size_t end to end. Bytes handed to libuv are committed:
**    they go out even if the sender times out or is killed, so they count
**    as sent, and the next send queues behind them (never interleaved).
**  - Deadlines: settimeout sets a per-operation timeout; expiry returns
**    nil, "timeout" (receive also returns the partial data, consumed).
**  - Waiters: one reader and one writer at a time (a second raises).
**    Closing wakes both with nil, "closed".
**  - Filters: a filter (TLS) sits between the wire and the buffer. It is
**    fed what the wire delivers, puts plaintext in the buffer, and writes
**    its output to the wire with gl_stream_wire. The stream calls it only
**    through gl_filter; the filter never wakes threads or touches waiters.
**  - libuv callbacks only copy bytes, set flags and wake threads: no Lua
**    API that can raise ever runs in them.
**  - The owner (socket.c) owns the handle: it sets handle->data to the
**    stream, calls gl_stream_detach before uv_close, and frees the handle's
**    memory in the close callback, which libuv runs after every pending
**    write's. Callbacks that find handle->data NULL do nothing.
**  - The userdata at index 1 of a stream method's frame starts with its
**    gl_stream, and its first uservalue (GL_STREAM_UV_WRITING) is the
**    stream's: it anchors a string libuv is writing from.
** I/O failures return nil, err (LuaSocket's strings); misuse raises.
*/
#ifndef GL_STREAM_H
#define GL_STREAM_H

#include <lua.h>
#include <uv.h>
#include "core/hub.h"

typedef struct gl_stream gl_stream;
typedef struct gl_filter gl_filter;

/* Error codes beyond libuv's (which are small negative numbers). */
#define GL_EFILTER  (-100001)  /* the filter failed: filter->error says why */
#define GL_EWANTREAD (-100002) /* filter->write must wait for the peer */
#define GL_ELINE    (-100003)  /* a line longer than max_line */

/* The most one uv_try_write or uv_write is given (its lengths are int and
** unsigned); larger sends loop. */
#define GL_STREAM_PIECE ((size_t)1 << 30)

/* The most plaintext one filter->write call is given: four TLS records,
** so a typical 64 KB send costs one system call, and what a send holds
** encrypted at once stays bounded. */
#define GL_FILTER_CHUNK (64 * 1024)

/* What sits between the wire and the buffer. Every function gets the
** stream; its state is st->fctx. All return 0 or a negative error unless
** said otherwise; none may call Lua. */
struct gl_filter {
  const char *name;  /* for tostring: "tls" */
  /* The wire delivered n bytes (data NULL: the wire ended). Called from
  ** libuv's read callback. Return UV_EOF when the peer ended the stream
  ** cleanly (close_notify). */
  int (*feed)(gl_stream *st, const char *data, size_t n);
  /* A reader or writer is about to look: advance a handshake, move what
  ** can be to the buffer. UV_EOF as for feed. */
  int (*pump)(gl_stream *st);
  /* Can application data flow (the handshake is done)? */
  int (*ready)(gl_stream *st);
  /* Encode n (<= GL_FILTER_CHUNK) bytes to the wire: n, or GL_EWANTREAD
  ** (call again with the same bytes once the peer sent more), or an error. */
  int (*write)(gl_stream *st, const char *data, size_t n);
  /* The sending side ends (shutdown): write the end marker, best effort. */
  void (*shutdown)(gl_stream *st);
  /* The message for GL_EFILTER. */
  const char *(*error)(gl_stream *st);
  /* The stream is being detached: say goodbye if possible, free fctx. */
  void (*free)(gl_stream *st);
  /* On a listener: attach this filter's kind to an accepted stream. */
  int (*accept)(gl_stream *listener, gl_stream *client);
};

struct gl_stream {
  uv_stream_t *h;          /* NULL once detached (closed) */
  const char *noun;        /* "socket": for messages */
  const gl_filter *filter; /* NULL: bytes go straight to the buffer */
  void *fctx;              /* the filter's state */
  char *buf;               /* received bytes not yet taken: buf[off, off+len) */
  size_t off, len, cap;
  size_t scanned;          /* buf[off, off+scanned) holds no '\n' */
  size_t max_line;         /* 0: no limit */
  size_t queued;           /* bytes handed to uv_write, not yet written */
  size_t wake_at;          /* a waiting sender wakes once queued is this low */
  double timeout;          /* per operation, seconds; < 0: none */
  int read_err;            /* sticky: the input failed (0: no) */
  int write_err;           /* sticky: a queued write failed */
  unsigned reading : 1, eof : 1, shut_send : 1, anchored : 1, wants_read : 1;
  gl_waitq readers, writers;
};

#define GL_STREAM_UV_WRITING 1

/* Set up a stream over 'h' (which the caller owns; h->data is set to the
** stream). 'noun' names it in messages. */
void gl_stream_init(gl_stream *st, uv_stream_t *h, const char *noun);

/* Let go of the handle: stop reading, free the filter and the buffer,
** clear h->data. Wakes nobody (see gl_stream_close). The owner then closes
** the handle. Idempotent. */
void gl_stream_detach(gl_stream *st);

/* Wake every reader and writer: they return nil, "closed" once detached. */
void gl_stream_wake_all(gl_stream *st);

/* The Lua methods' bodies. Each expects its userdata (already checked by
** the owner) at index 1 and its own arguments after it. */
int gl_stream_receive(lua_State *L, gl_stream *st);
int gl_stream_recv(lua_State *L, gl_stream *st);
int gl_stream_send(lua_State *L, gl_stream *st);
int gl_stream_settimeout(lua_State *L, gl_stream *st);
/* Wait until the filter is ready (a TLS handshake): true, or nil, err. */
int gl_stream_handshake(lua_State *L, gl_stream *st);

/* Shut down the reading side (readers see the end) or the sending side
** (the filter's end marker, then uv_shutdown after what is queued). */
void gl_stream_shutdown_read(gl_stream *st);
int gl_stream_shutdown_send(gl_stream *st);

/* For parsers reading the buffer in place (http): drop its first n
** (<= len) bytes, as a receive that took them would. */
void gl_stream_consume(gl_stream *st, size_t n);

/* For filters: room for n more bytes at the end of the buffer (NULL: out
** of memory); write there, then gl_stream_commit what was written. */
char *gl_stream_reserve(gl_stream *st, size_t n);
void gl_stream_commit(gl_stream *st, size_t n);

/* For senders that format in C (http): write what the kernel takes now,
** without a Lua string, when nothing is queued or waiting and no filter
** sits in between. Bytes written (0 when the fast way is closed: send the
** rest with gl_stream_send), or an error. */
int gl_stream_write_now(gl_stream *st, const char *data, size_t n);

/* For filters: send bytes to the wire, in order: now if the kernel takes
** them, else a copy queued in libuv. 0 or an error. */
int gl_stream_wire(gl_stream *st, const char *data, size_t n);

/* Push nil and the message for 'err'; returns 2. */
int gl_stream_fail(lua_State *L, gl_stream *st, int err);

/* The short lowercase message for an error code, LuaSocket style. */
const char *gl_strerror(int err);

/* Shared by stream.c (reading) and stream_write.c, not for other files:
** wake the first waiter of q (safe in libuv callbacks: nothing allocates);
** start reading unless the input ended; let the filter work (its failures
** become st->read_err; it wakes the writers when a handshake completes). */
void gl_stream_wake(gl_waitq *q);
void gl_stream_want_read(gl_stream *st);
int gl_stream_pump(gl_stream *st);

/* Deadlines: the deadline (uv_hrtime seconds) of an operation starting now
** under a per-operation 'timeout' (< 0: none, -1 returned); seconds left
** until the deadline at stack index 'idx' (-1: none); and, in a
** continuation after a block, keep the frame's first 'top' slots and tell
** whether the wait ended by its deadline. */
double gl_deadline(double timeout);
double gl_time_left(lua_State *L, int idx);
int gl_timed_out(lua_State *L, int top);

#endif
