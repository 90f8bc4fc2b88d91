/*
** udp.c: the udp objects of the green socket.core: socket.udp(),
** udp4(), udp6(), classes "udp{unconnected}" and "udp{connected}" (groups
** "udp{any}" and "select{able}"), every method of LuaSocket 3.1.0's udp.
**
** gl_ls_dgram_send / gl_ls_dgram_receive serve unix.c's dgram objects too.
**
** Contract (the reference is Debian's LuaSocket 3.1.0 under lua5.4):
**  - Same methods, results, classes and strings as 3.1.0: send/sendto
**    return the byte count (a float); receive/receivefrom the datagram
**    (and the sender's address and integer port); a zero-length datagram
**    or a closed object gives "" (3.1.0 treats recv's 0 as a datagram);
**    a send on a closed object gives "refused"; sendto takes numeric
**    addresses only (glibc's gai_strerror strings); setpeername and
**    setsockname resolve names (LuaSocket's strings); udp() makes no fd
**    until the first sendto/setpeername/setsockname picks the family.
**  - Green: a send or receive that would block waits with gl_ls_wait (only
**    this green thread), within LuaSocket's timeouts (settimeout(t, "b"/"t"),
**    0 = never wait), and resolving a name (setpeername/setsockname) runs
**    on libuv's pool. A call that waited runs again from its start; the
**    moment the call started is kept in the object (rstart / wstart), so
**    its total timeout counts from the first attempt. Nothing is held
**    across a wait (the datagram buffer is per attempt): a killed call
**    leaves nothing behind.
**  - setfd as tcp's (gl_ls_setfd): -1 gives the fd away (as LuaSec does
**    it); another number only if a green socket made it, else "not
**    supported" (adopting any number could close one of libuv's own).
**  - Sizes become C integers the way 3.1.0's cast does on x86-64 (receive
**    sizes: 1e300 asks for 0 bytes, -1 and NaN for "out of
**    memory"), without undefined behaviour; a size over 2^31 bytes answers
**    "out of memory" rather than trying the allocation (no datagram is that
**    big, and a sanitized build must not abort on it).
*/
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "luasocket/lsock.h"

#define CONNECTED "udp{connected}"
#define UNCONNECTED "udp{unconnected}"
#define ANY "udp{any}"

/* 3.1.0's udp_strerror: a 'closed' send means the address was refused. */
static const char *udp_strerror(int err) {
  return err == LS_CLOSED ? "refused" : gl_ls_strerror(err);
}

/* (size_t)d as gcc does it on x86-64 (two cvttsd2si paths). */
static uint64_t size_from_number(lua_Number d) {
  const double two63 = 9223372036854775808.0;
  if (d >= two63) {
    double e = d - two63;
    return e < two63 ? (uint64_t)(int64_t)e ^ UINT64_C(0x8000000000000000) : 0;
  }
  if (d > -two63 - 1 && d < two63) return (uint64_t)(int64_t)d;
  return UINT64_C(0x8000000000000000);  /* NaN and below -2^63 */
}

/* The size argument of receive/receivefrom (default: _DATAGRAMSIZE). */
static uint64_t wanted_size(lua_State *L) {
  return size_from_number(luaL_optnumber(L, 2, GL_LS_DATAGRAMSIZE));
}

/* The wait a send/receive makes after EAGAIN: "timeout" at once when the
** block timeout is 0 (3.1.0's timeout_iszero), else a green wait. */
static int wait_or_timeout(lua_State *L, gl_lsock *s, int events, double start,
                           const char *what, lua_KFunction k) {
  if (s->tm.block == 0) return gl_ls_fail(L, gl_ls_strerror(LS_TIMEOUT));
  return gl_ls_wait(L, s, events, gl_ls_retry(&s->tm, start), what, k);
}

/* In a continuation: LS_DONE (run the call again) or the error to report.
** A wait ended by close() runs again too: the closed fd then gives 3.1.0's
** answer for a closed object. */
static int resumed(lua_State *L, gl_lsock *s) {
  int r = gl_ls_waited(L);
  if (r == LS_CLOSED && s->fd == GL_LS_INVALID) return LS_DONE;
  return r;
}

/* -------------------------------------------------------------- send */

static int send_k(lua_State *L, int status, lua_KContext ctx);

static int send_run(lua_State *L, gl_lsock *s) {
  size_t count;
  const char *data = lua_tolstring(L, 2, &count);
  if (s->fd == GL_LS_INVALID) return gl_ls_fail(L, udp_strerror(LS_CLOSED));
  for (;;) {
    ssize_t put = send(s->fd, data, count, 0);
    if (put >= 0) {
      lua_pushnumber(L, (lua_Number)put);
      return 1;
    }
    int err = errno;
    if (err == EPIPE) return gl_ls_fail(L, udp_strerror(LS_CLOSED));
    if (err == EINTR || err == EPROTOTYPE) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) return gl_ls_fail(L, udp_strerror(err));
    return wait_or_timeout(L, s, GL_LS_W, s->wstart, "send", send_k);
  }
}

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  int r = resumed(L, s);
  if (r != LS_DONE) return gl_ls_fail(L, udp_strerror(r));
  return send_run(L, s);
}

int gl_ls_dgram_send(lua_State *L, gl_lsock *s) {
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  s->wstart = gl_ls_gettime();
  return send_run(L, s);
}

static int meth_send(lua_State *L) {
  return gl_ls_dgram_send(L, gl_ls_checkclass(L, CONNECTED, 1));
}

/* ------------------------------------------------------------ sendto */

static int sendto_k(lua_State *L, int status, lua_KContext ctx);

static int sendto_run(lua_State *L, gl_lsock *s) {
  size_t count;
  const char *data = lua_tolstring(L, 2, &count);
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = s->family;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  int err = getaddrinfo(lua_tostring(L, 3), lua_tostring(L, 4), &hints, &ai);
  if (err) return gl_ls_fail(L, gai_strerror(err));
  /* udp(): the first sendto picks the family */
  if (s->family == AF_UNSPEC && s->fd == GL_LS_INVALID) {
    int cerr = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
      if ((cerr = gl_ls_create(s, a->ai_family)) == 0) {
        s->family = a->ai_family;
        break;
      }
    }
    if (cerr) {
      freeaddrinfo(ai);
      return gl_ls_fail(L, gl_ls_strerror(cerr));
    }
  }
  if (s->fd == GL_LS_INVALID) {
    freeaddrinfo(ai);
    return gl_ls_fail(L, udp_strerror(LS_CLOSED));
  }
  for (;;) {
    ssize_t put = sendto(s->fd, data, count, 0, ai->ai_addr, ai->ai_addrlen);
    if (put >= 0) {
      freeaddrinfo(ai);
      lua_pushnumber(L, (lua_Number)put);
      return 1;
    }
    err = errno;
    if (err == EINTR || err == EPROTOTYPE) continue;
    freeaddrinfo(ai);  /* nothing is held across the wait */
    if (err == EPIPE) return gl_ls_fail(L, udp_strerror(LS_CLOSED));
    if (err != EAGAIN && err != EWOULDBLOCK) return gl_ls_fail(L, udp_strerror(err));
    return wait_or_timeout(L, s, GL_LS_W, s->wstart, "sendto", sendto_k);
  }
}

static int sendto_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  int r = resumed(L, s);
  if (r != LS_DONE) return gl_ls_fail(L, udp_strerror(r));
  return sendto_run(L, s);
}

static int meth_sendto(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, UNCONNECTED, 1);
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  luaL_checkstring(L, 4);
  lua_settop(L, 4);
  s->wstart = gl_ls_gettime();
  return sendto_run(L, s);
}

/* ------------------------------------------------- receive, receivefrom */

static int receive_k(lua_State *L, int status, lua_KContext ctx);

/* Frame: 1 object, 2 size, 3 'from' (1 for receivefrom). */
static int receive_run(lua_State *L, gl_lsock *s, int from) {
  char small[GL_LS_DATAGRAMSIZE];
  uint64_t wanted = wanted_size(L);
  if (wanted > ((uint64_t)1 << 31)) return gl_ls_fail(L, "out of memory");
  char *dgram = wanted > sizeof small ? malloc((size_t)wanted) : small;
  if (dgram == NULL) return gl_ls_fail(L, "out of memory");
  struct sockaddr_storage addr;
  socklen_t alen = sizeof addr;
  memset(&addr, 0, sizeof addr);
  ssize_t got = 0;
  int err = LS_CLOSED;
  while (s->fd != GL_LS_INVALID) {
    got = from ? recvfrom(s->fd, dgram, (size_t)wanted, 0, (struct sockaddr *)&addr, &alen)
               : recv(s->fd, dgram, (size_t)wanted, 0);
    if (got >= 0) {
      err = LS_DONE;  /* 0 bytes: an empty datagram, not "closed" */
      break;
    }
    err = errno;
    if (err == EINTR) continue;
    break;
  }
  if (got < 0) got = 0;
  if ((err == LS_DONE || err == LS_CLOSED) && from && s->family == AF_UNIX) {
    /* unix dgram: the sender's path, "" when it sent without bind */
    struct sockaddr_un *un = (struct sockaddr_un *)&addr;
    size_t off = offsetof(struct sockaddr_un, sun_path), plen = 0;
    if (err == LS_DONE && alen > off) plen = strnlen(un->sun_path, alen - off);
    lua_pushlstring(L, dgram, (size_t)got);
    if (dgram != small) free(dgram);
    lua_pushlstring(L, un->sun_path, plen);
    return 2;
  }
  if (err == LS_DONE || err == LS_CLOSED) {
    char host[NI_MAXHOST], port[NI_MAXSERV];
    int gerr = 0;
    if (from)
      gerr = getnameinfo((struct sockaddr *)&addr, alen, host, sizeof host, port, sizeof port,
                         NI_NUMERICHOST | NI_NUMERICSERV);
    if (gerr == 0) lua_pushlstring(L, dgram, (size_t)got);
    if (dgram != small) free(dgram);
    if (gerr) return gl_ls_fail(L, gai_strerror(gerr));
    if (!from) return 1;
    lua_pushstring(L, host);
    lua_pushinteger(L, (lua_Integer)strtol(port, NULL, 10));
    return 3;
  }
  if (dgram != small) free(dgram);
  if (err != EAGAIN && err != EWOULDBLOCK) return gl_ls_fail(L, udp_strerror(err));
  return wait_or_timeout(L, s, GL_LS_R, s->rstart, from ? "receivefrom" : "receive",
                         receive_k);
}

static int receive_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  int r = resumed(L, s);
  if (r != LS_DONE) return gl_ls_fail(L, udp_strerror(r));
  return receive_run(L, s, (int)lua_tointeger(L, 3));  /* 3: receivefrom or not */
}

int gl_ls_dgram_receive(lua_State *L, gl_lsock *s, int from) {
  wanted_size(L);  /* argument errors first, as 3.1.0 */
  lua_settop(L, 2);
  lua_pushinteger(L, from);  /* 3: receivefrom or not */
  s->rstart = gl_ls_gettime();
  return receive_run(L, s, from);
}

static int meth_receive(lua_State *L) {
  return gl_ls_dgram_receive(L, gl_ls_checkgroup(L, ANY, 1), 0);
}

static int meth_receivefrom(lua_State *L) {
  return gl_ls_dgram_receive(L, gl_ls_checkclass(L, UNCONNECTED, 1), 1);
}

/* -------------------------------------------------- names and peers */

static int meth_getfamily(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  if (s->family == AF_INET6)
    lua_pushliteral(L, "inet6");
  else
    lua_pushliteral(L, "inet4");
  return 1;
}

static int meth_getpeername(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, CONNECTED, 1);
  return gl_ls_getpeername(L, s);
}

static int meth_getsockname(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  return gl_ls_getsockname(L, s);
}

/* Did gl_ls_resolve's continuation get nil, err (the error string on top)? */
static int resolve_failed(lua_State *L) {
  return lua_type(L, -1) == LUA_TSTRING;
}

/* Frame: 1 object, 2 address, 3 port, 4 the answer. */
static int setpeername_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  if (resolve_failed(L)) return 2;
  const char *err = gl_ls_tryconnect_now(L, s, lua_gettop(L));
  if (err) return gl_ls_fail(L, err);
  gl_ls_setclass(L, 1, CONNECTED);
  lua_pushnumber(L, 1);
  return 1;
}

/* 3.1.0's inet_trydisconnect: connect to AF_UNSPEC; errors ignored. */
static void disconnect(gl_lsock *s) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_family = AF_UNSPEC;
  socklen_t len;
  if (s->family == AF_INET)
    len = sizeof(struct sockaddr_in);
  else if (s->family == AF_INET6)
    len = sizeof(struct sockaddr_in6);
  else
    return;
  if (s->fd == GL_LS_INVALID) return;
  while (connect(s->fd, (struct sockaddr *)&ss, len) < 0 && errno == EINTR) {}
}

static int meth_setpeername(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  const char *address = luaL_checkstring(L, 2);
  int connecting = strcmp(address, "*") != 0;
  if (!connecting) {
    disconnect(s);
    gl_ls_setclass(L, 1, UNCONNECTED);
    lua_pushnumber(L, 1);
    return 1;
  }
  const char *port = luaL_checkstring(L, 3);
  lua_settop(L, 3);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_family = s->family;  /* only the family it has, once it has one */
  return gl_ls_resolve(L, address, port, &hints, "setpeername", setpeername_k);
}

static int setsockname_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_lsock *s = lua_touserdata(L, 1);
  if (resolve_failed(L)) return 2;
  const char *err = gl_ls_trybind(L, s, lua_gettop(L));
  if (err) return gl_ls_fail(L, err);
  lua_pushnumber(L, 1);
  return 1;
}

static int meth_setsockname(lua_State *L) {
  gl_lsock *s = gl_ls_checkclass(L, UNCONNECTED, 1);
  const char *address = luaL_checkstring(L, 2);
  const char *port = luaL_checkstring(L, 3);
  lua_settop(L, 3);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_family = s->family;
  hints.ai_flags = AI_PASSIVE;
  if (strcmp(address, "*") == 0) address = NULL;  /* any address */
  return gl_ls_resolve(L, address, port, &hints, "setsockname", setsockname_k);
}

/* ------------------------------------------------------ the rest */

static int meth_close(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  gl_ls_destroy(L, s);
  lua_pushnumber(L, 1);
  return 1;
}

static int meth_getfd(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  lua_pushnumber(L, s->fd);
  return 1;
}

/* setfd(n), as tcp's (gl_ls_setfd): setfd(-1) gives the fd away (LuaSec's
** way of taking it over); setfd(n) adopts n only if a green socket made it
** (closing any other number could close one of libuv's descriptors). */
static int meth_setfd(lua_State *L) {
  return gl_ls_setfd(L, gl_ls_checkgroup(L, ANY, 1));
}

static int meth_dirty(lua_State *L) {
  gl_ls_checkgroup(L, ANY, 1);
  lua_pushboolean(L, 0);
  return 1;
}

static int meth_setoption(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  return gl_ls_setoption(L, gl_ls_udp_setopts, s);
}

static int meth_getoption(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  return gl_ls_getoption(L, gl_ls_udp_getopts, s);
}

static int meth_settimeout(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  return gl_ls_settimeout(L, &s->tm);
}

static int meth_gettimeout(lua_State *L) {
  gl_lsock *s = gl_ls_checkgroup(L, ANY, 1);
  return gl_ls_gettimeout(L, &s->tm);
}

static const luaL_Reg udp_methods[] = {
  {"__gc", meth_close},
  {"__tostring", gl_ls_tostring},
  {"close", meth_close},
  {"dirty", meth_dirty},
  {"getfamily", meth_getfamily},
  {"getfd", meth_getfd},
  {"getpeername", meth_getpeername},
  {"getsockname", meth_getsockname},
  {"receive", meth_receive},
  {"receivefrom", meth_receivefrom},
  {"send", meth_send},
  {"sendto", meth_sendto},
  {"setfd", meth_setfd},
  {"setoption", meth_setoption},
  {"getoption", meth_getoption},
  {"setpeername", meth_setpeername},
  {"setsockname", meth_setsockname},
  {"settimeout", meth_settimeout},
  {"gettimeout", meth_gettimeout},
  {NULL, NULL}
};

/* ------------------------------------------------------ constructors */

static int udp_create(lua_State *L, int family) {
  gl_lsock *s = gl_ls_new(L, UNCONNECTED, GL_LS_INVALID, family, SOCK_DGRAM);
  if (family != AF_UNSPEC) {
    int err = gl_ls_create(s, family);
    if (err) return gl_ls_fail(L, gl_ls_strerror(err));
  }
  return 1;
}

static int l_udp(lua_State *L) { return udp_create(L, AF_UNSPEC); }
static int l_udp4(lua_State *L) { return udp_create(L, AF_INET); }
static int l_udp6(lua_State *L) { return udp_create(L, AF_INET6); }

void gl_ls_open_udp(lua_State *L) {
  gl_ls_newclass(L, CONNECTED, udp_methods);
  gl_ls_newclass(L, UNCONNECTED, udp_methods);
  gl_ls_add2group(L, CONNECTED, ANY);
  gl_ls_add2group(L, UNCONNECTED, ANY);
  gl_ls_add2group(L, CONNECTED, "select{able}");
  gl_ls_add2group(L, UNCONNECTED, "select{able}");
  static const luaL_Reg funcs[] = {
    {"udp", l_udp}, {"udp4", l_udp4}, {"udp6", l_udp6}, {NULL, NULL}
  };
  luaL_setfuncs(L, funcs, 0);
  lua_pushinteger(L, GL_LS_DATAGRAMSIZE);
  lua_setfield(L, -2, "_DATAGRAMSIZE");
}
