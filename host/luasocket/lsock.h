/*
** lsock.h: the shared base of greenlua's green socket.core / socket.unix
** (LuaSocket 3.1.0's C API and conventions over raw non-blocking fds, with
** LuaSocket's poll() replaced by a green wait, gl_fd_wait).
**
** The parts: base.c (timeouts, errors, classes, the wait, an object's
** life), buffer.c (receive/send/stats), inet.c (names, resolution,
** bind/connect), tcp.c, udp.c (and unix dgram's send/receive), unix.c,
** select.c, options.c, dns.c, core.c (the socket.core table).
**
** How a method that waits works: it runs from the start; when the fd
** would block it calls gl_ls_wait(..., k) and returns what that returns.
** The thread resumes in k with the wait's results on top of the stack;
** k calls gl_ls_waited(L) (pops them, gives LS_DONE, LS_TIMEOUT or
** LS_CLOSED), then, on LS_DONE, runs the operation again. Whatever a
** restarted call must remember (the moment the call started, for the total
** timeout; bytes sent so far) lives in the object: the 'rstart'/'wstart'
** and 'wdone' fields. A fresh call (not a continuation) resets them, so an
** interrupted call (kill, Timeout) leaves nothing behind. One thread per
** direction per fd: gl_fd_wait raises for a second one.
*/
#ifndef GL_LSOCK_H
#define GL_LSOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <netdb.h>
#include <lua.h>
#include <lauxlib.h>
#include "io/fdwait.h"

#define GL_LS_INVALID (-1)        /* SOCKET_INVALID: getfd() of a closed socket */
#define GL_LS_VERSION "LuaSocket 3.0.0"  /* what Debian's 3.1.0 build reports */
#define GL_LS_DATAGRAMSIZE 8192   /* UDP_DATAGRAMSIZE of 3.1.0 */

/* 3.1.0's two common answers: nil, err (an I/O failure) and the number 1
** (success; a float, as 3.1.0's lua_pushnumber gives). */
static inline int gl_ls_fail(lua_State *L, const char *err) {
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}
static inline int gl_ls_ok(lua_State *L) {
  lua_pushnumber(L, 1);
  return 1;
}
#define GL_LS_STEPSIZE 8192       /* send() writes at most this much per syscall */
#define GL_LS_BUFSIZE 8192        /* recv() asks for this much at a time */

/* LuaSocket's io codes; a positive value is an errno. */
enum { LS_DONE = 0, LS_TIMEOUT = -1, LS_CLOSED = -2, LS_UNKNOWN = -3 };

/* Events for gl_ls_wait: the same bits as libuv's (UV_READABLE, UV_WRITABLE). */
#define GL_LS_R 1
#define GL_LS_W 2

/* ---------------------------------------------------------- timeouts
** LuaSocket's: 'block' bounds the whole call when alone (3.1.0's
** timeout_getretry measures it from the call's start too); with 'total'
** as well, each wait gets the smaller of 'block' and what is left of
** 'total'. < 0 = none. A call with block == 0 never waits (LS_TIMEOUT at
** once, as timeout_iszero). */
typedef struct gl_ls_tm {
  double block, total;
} gl_ls_tm;

double gl_ls_gettime(void);               /* gettimeofday, seconds, as timeout_gettime */
/* Seconds a wait may take for a call that started at 'start'; -1: no limit. */
double gl_ls_retry(const gl_ls_tm *tm, double start);
/* timeout_get: the same, for connect/accept-like first waits. */
double gl_ls_tmget(const gl_ls_tm *tm, double start);
/* tm:settimeout(t, mode) / tm:gettimeout() as methods (object at 1). */
int gl_ls_settimeout(lua_State *L, gl_ls_tm *tm);
int gl_ls_gettimeout(lua_State *L, gl_ls_tm *tm);

/* ---------------------------------------------------------- the object
** One struct for every class (tcp, udp, unix stream and dgram), as the
** full userdata. 'fd' is GL_LS_INVALID once closed. The receive buffer
** grows while one pattern waits for more (a restarted receive finds what
** it had there), and is what dirty() reports. */
typedef struct gl_ls_buf {
  char *data;               /* malloc'd, or NULL */
  size_t first, last, cap;  /* unread bytes: data[first..last) */
  size_t scan;              /* receive "*l": bytes after 'first' known to hold no '\n' */
  double received, sent;    /* getstats/setstats (LuaSocket counts consumed bytes) */
  double birthday;          /* gl_ls_gettime() at creation */
} gl_ls_buf;

typedef struct gl_lsock {
  int fd;
  int family;               /* AF_INET, AF_INET6, AF_UNIX; AF_UNSPEC for tcp()/udp() before use */
  int kind;                 /* SOCK_STREAM or SOCK_DGRAM */
  gl_ls_tm tm;
  gl_ls_buf buf;
  double rstart, wstart;    /* when the current receive / send call started */
  size_t wdone;             /* bytes the current send call has sent so far */
  int phase;                /* connect/accept progress of a restarted call (owner's use) */
} gl_lsock;

/* Make a new object with class 'cls' (a metatable registered by
** gl_ls_newclass) on top of the stack. fd may be GL_LS_INVALID. Sets the fd
** non-blocking (as LuaSocket's socket_setnonblocking). */
gl_lsock *gl_ls_new(lua_State *L, const char *cls, int fd, int family, int kind);
/* Close the fd (gl_fd_forget first: waiters get "closed"), free the buffer;
** idempotent. */
void gl_ls_destroy(lua_State *L, gl_lsock *s);
/* Let go of the fd: forget its waiters, close it if a green socket made it
** (not when it was adopted twice and closed already, or given away). */
void gl_ls_closefd(lua_State *L, gl_lsock *s);
/* Record an fd a green socket made (gl_ls_new and gl_ls_create do). */
void gl_ls_own(int fd);
/* The setfd(n) method, n at index 2: -1 gives the fd away; n >= 0 only if
** a green socket made it ("setfd: not supported (fd N is not a green
** socket's)" otherwise). */
int gl_ls_setfd(lua_State *L, gl_lsock *s);
/* Change the class of the object at 'idx' (master -> client/server). */
void gl_ls_setclass(lua_State *L, int idx, const char *cls);

/* ---------------------------------------------------------- classes
** As auxiliar.c: each class a metatable (registered as "greenlua.<cls>",
** __name = cls),
** methods in __index with __index.class = cls, entries whose names start
** with '_' in the metatable; group membership a true field of the
** metatable ("tcp{any}" = true). */
void gl_ls_newclass(lua_State *L, const char *cls, const luaL_Reg *methods);
void gl_ls_add2group(lua_State *L, const char *cls, const char *group);
/* The object at 'idx' if its class is 'cls' / its metatable has 'group';
** else raise "bad argument #idx to 'f' (<cls> expected)" (luaL_argerror). */
gl_lsock *gl_ls_checkclass(lua_State *L, const char *cls, int idx);
gl_lsock *gl_ls_checkgroup(lua_State *L, const char *group, int idx);
gl_lsock *gl_ls_testgroup(lua_State *L, const char *group, int idx);  /* NULL if not */
int gl_ls_tostring(lua_State *L);         /* __tostring: "<class>: 0x..." */
int gl_ls_checkboolean(lua_State *L, int idx);  /* "boolean expected, got X" */

/* ---------------------------------------------------------- errors
** Character for character LuaSocket's (usocket.c, pierror.h). */
const char *gl_ls_strerror(int err);      /* LS_* or errno; NULL for LS_DONE */
const char *gl_ls_gaistrerror(int err);   /* EAI_*; NULL for 0 */
const char *gl_ls_hoststrerror(int err);

/* ---------------------------------------------------------- the wait
** Block until the object's fd is ready for 'events' (GL_LS_R/W) or
** 'seconds' pass (< 0: never). Always yields: return its result from the
** C function. Resumes in k; call gl_ls_waited first there. */
int gl_ls_wait(lua_State *L, gl_lsock *s, int events, double seconds,
               const char *what, lua_KFunction k);
/* In k: pop the wait's results; LS_DONE (ready), LS_TIMEOUT or LS_CLOSED
** (the object was closed meanwhile). */
int gl_ls_waited(lua_State *L);

/* ---------------------------------------------------------- buffer (buffer.c)
** The stream methods of tcp and unix stream objects, at index 1 (the
** caller checked the class). 'k' is the caller's continuation: it must
** call gl_ls_receive_k / gl_ls_send_k (after gl_ls_waited, which these
** do themselves: just return gl_ls_receive_k(L, s)). */
void gl_ls_buf_init(gl_ls_buf *b);
void gl_ls_buf_free(gl_ls_buf *b);
int gl_ls_receive(lua_State *L, gl_lsock *s, lua_KFunction k);
int gl_ls_receive_k(lua_State *L, gl_lsock *s, lua_KFunction k);
int gl_ls_send(lua_State *L, gl_lsock *s, lua_KFunction k);
int gl_ls_send_k(lua_State *L, gl_lsock *s, lua_KFunction k);
int gl_ls_getstats(lua_State *L, gl_lsock *s);
int gl_ls_setstats(lua_State *L, gl_lsock *s);
int gl_ls_dirty(lua_State *L, gl_lsock *s);

/* ---------------------------------------------------------- inet (inet.c)
** Names, families, resolving, bind and connect, shared by tcp and udp.
** Resolving is green: a numeric host resolves at once, any other through
** uv_getaddrinfo. gl_ls_resolve pushes nothing and yields, resuming in k
** with (on top) a userdata owning the addrinfo list, or nil, err
** (LuaSocket's gai string); or, for a numeric host, calls k at once the
** same way. Read the list with gl_ls_addrinfo(L, idx). */
int gl_ls_resolve(lua_State *L, const char *host, const char *serv,
                  const struct addrinfo *hints, const char *what, lua_KFunction k);
struct addrinfo *gl_ls_addrinfo(lua_State *L, int idx);
const char *gl_ls_family_name(int family);  /* "inet", "inet6", "unix", "unknown family" */
/* getpeername / getsockname with LuaSocket's results (address, port as a
** string, family; or nil, err). */
int gl_ls_getpeername(lua_State *L, gl_lsock *s);
int gl_ls_getsockname(lua_State *L, gl_lsock *s);
/* Create the fd for a family the first bind/connect chose (tcp()/udp()
** make no fd until then: 3.1.0's AF_UNSPEC masters). 0 or an errno. */
int gl_ls_create(gl_lsock *s, int family);
/* Bind to each address of the list at 'idx' until one works, creating the
** fd as needed: NULL or LuaSocket's error string. */
const char *gl_ls_trybind(lua_State *L, gl_lsock *s, int idx);
/* connect() to each address of the list at 'idx' until one works, without
** waiting (for datagram sockets: setpeername): NULL or the error string. */
const char *gl_ls_tryconnect_now(lua_State *L, gl_lsock *s, int idx);

/* ---------------------------------------------------------- options (options.c)
** One table per class and direction, each {name, fn} ending {NULL, NULL};
** gl_ls_setoption / gl_ls_getoption look the name at index 2 up (raising
** "unsupported option 'x'" as 3.1.0 does, via luaL_argerror) and call fn
** with the object at 1, the value at 3. */
typedef int (*gl_ls_optfn)(lua_State *L, gl_lsock *s);
typedef struct gl_ls_opt { const char *name; gl_ls_optfn fn; } gl_ls_opt;
extern const gl_ls_opt gl_ls_tcp_setopts[], gl_ls_tcp_getopts[];
extern const gl_ls_opt gl_ls_udp_setopts[], gl_ls_udp_getopts[];
extern const gl_ls_opt gl_ls_unix_setopts[], gl_ls_unix_getopts[];
int gl_ls_setoption(lua_State *L, const gl_ls_opt *opts, gl_lsock *s);
int gl_ls_getoption(lua_State *L, const gl_ls_opt *opts, gl_lsock *s);

/* ---------------------------------------------------------- open functions
** Each adds its entries to the table on top of the stack (the socket.core
** table, or socket.unix's) and registers its classes. */
void gl_ls_open_tcp(lua_State *L);        /* tcp, tcp4, tcp6 */
void gl_ls_open_udp(lua_State *L);        /* udp, udp4, udp6 */
void gl_ls_open_dns(lua_State *L);        /* sets field "dns" = {toip, tohostname, getaddrinfo, getnameinfo, gethostname} */
void gl_ls_open_select(lua_State *L);     /* select */
/* socket.unix as 3.1.0: a table with stream, dgram, and __call = stream
** (luaopen_socket_unix's shape), pushed on top. */
int luaopen_greenlua_socket_unix(lua_State *L);
/* the socket.core table, pushed on top. */
int luaopen_greenlua_socket_core(lua_State *L);

/* ---------------------------------------------------------- datagrams (udp.c, unix.c) */
extern const gl_ls_opt gl_ls_unixdgram_setopts[];  /* options.c: unix dgram's setoption */
/* udp.c, for udp and unix dgram objects (class checked by the caller, object
** at 1): send(data) on a connected one; receive(size) / receivefrom(size)
** (from = 1). Green, restartable, 3.1.0's results ("refused" when closed). */
int gl_ls_dgram_send(lua_State *L, gl_lsock *s);
int gl_ls_dgram_receive(lua_State *L, gl_lsock *s, int from);

#endif
