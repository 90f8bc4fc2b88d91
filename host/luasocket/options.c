/*
** options.c: setoption/getoption of the green socket.core (tcp, udp) and
** socket.unix (stream, dgram), with LuaSocket 3.1.0's names, tables and
** results.
**
** Contract (the reference is Debian's LuaSocket 3.1.0 under lua5.4):
**  - Each class has its own table of names (gl_ls_tcp_setopts/getopts,
**    gl_ls_udp_setopts/getopts, gl_ls_unix_setopts for unix streams,
**    gl_ls_unixdgram_setopts; socket.unix has no getoption), the very
**    names 3.1.0 lists, including
**    its quirks: udp's "ipv6-multicast-hops" reads and writes the unicast
**    hops; "ip-multicast-ttl" can only be set; tcp has no getter for
**    "ipv6-v6only".
**  - An unknown name raises luaL_argerror #2 "unsupported option `NAME'"
**    (NAME cut at 35 bytes, as 3.1.0 does); a wrong value raises the same
**    argument errors as 3.1.0 ("boolean expected, got number", "boolean 'on'
**    field expected", "invalid 'multiaddr' ip address", ...).
**  - setoption returns 1 (a float, as 3.1.0 pushes it) or nil,
**    "setsockopt failed"; getoption returns the value (booleans, floats for
**    integers, {on=, timeout=} for linger, a dotted address for
**    "ip-multicast-if", the socket error string or nil for "error") or nil,
**    "getsockopt failed". A closed socket (fd -1) fails the same way.
**  - Numbers become C ints the way 3.1.0's casts do on x86-64, without the
**    undefined behaviour: NaN and out-of-range values give INT_MIN, so a
**    sanitized build never traps on a value the user chose.
** Nothing here blocks: socket options are plain system calls.
*/
#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <lauxlib.h>
#include <lua.h>

#include "luasocket/lsock.h"


/* ------------------------------------------------------------ numbers */

/* (int)d as x86-64's cvttsd2si gives it: INT_MIN for NaN and out of range. */
static int to_int(lua_Number d) {
  if (!(d > (lua_Number)INT_MIN - 1 && d < (lua_Number)INT_MAX + 1)) return INT_MIN;
  return (int)d;
}

/* (unsigned)d as gcc does it on x86-64: through a 64-bit conversion. */
static unsigned to_uint(lua_Number d) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
  return (unsigned)(long long)d;
}

/* --------------------------------------------------------- primitives */

static int opt_set(lua_State *L, int fd, int level, int name, const void *val, socklen_t len) {
  if (setsockopt(fd, level, name, val, len) < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "setsockopt failed");
    return 2;
  }
  lua_pushnumber(L, 1);
  return 1;
}

/* 0 when the value was read; else nil, "getsockopt failed" is pushed. */
static int opt_get(lua_State *L, int fd, int level, int name, void *val, socklen_t *len) {
  if (getsockopt(fd, level, name, val, len) < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "getsockopt failed");
    return 2;
  }
  return 0;
}

static int check_boolean(lua_State *L, int arg) {
  if (!lua_isboolean(L, arg)) {
    const char *msg = lua_pushfstring(L, "boolean expected, got %s", luaL_typename(L, arg));
    luaL_argerror(L, arg, msg);
  }
  return lua_toboolean(L, arg);
}

static int table_expected(lua_State *L, int arg) {
  const char *msg = lua_pushfstring(L, "table expected, got %s", luaL_typename(L, arg));
  return luaL_argerror(L, arg, msg);
}

static int set_bool(lua_State *L, int fd, int level, int name) {
  int v = check_boolean(L, 3);
  return opt_set(L, fd, level, name, &v, sizeof v);
}

static int get_bool(lua_State *L, int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  int r = opt_get(L, fd, level, name, &v, &len);
  if (r) return r;
  lua_pushboolean(L, v);
  return 1;
}

/* 3.1.0 takes any value here: lua_tonumber gives 0 for what is no number. */
static int set_int(lua_State *L, int fd, int level, int name) {
  int v = to_int(lua_tonumber(L, 3));
  return opt_set(L, fd, level, name, &v, sizeof v);
}

static int get_int(lua_State *L, int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  int r = opt_get(L, fd, level, name, &v, &len);
  if (r) return r;
  lua_pushnumber(L, v);
  return 1;
}

/* ------------------------------------------------------------ options */

#define BOOL_OPT(id, level, name) \
  static int set_##id(lua_State *L, gl_lsock *s) { return set_bool(L, s->fd, level, name); } \
  static int get_##id(lua_State *L, gl_lsock *s) { return get_bool(L, s->fd, level, name); }
#define INT_OPT(id, level, name) \
  static int set_##id(lua_State *L, gl_lsock *s) { return set_int(L, s->fd, level, name); } \
  static int get_##id(lua_State *L, gl_lsock *s) { return get_int(L, s->fd, level, name); }

BOOL_OPT(reuseaddr, SOL_SOCKET, SO_REUSEADDR)
BOOL_OPT(reuseport, SOL_SOCKET, SO_REUSEPORT)
BOOL_OPT(keepalive, SOL_SOCKET, SO_KEEPALIVE)
BOOL_OPT(dontroute, SOL_SOCKET, SO_DONTROUTE)
BOOL_OPT(broadcast, SOL_SOCKET, SO_BROADCAST)
BOOL_OPT(tcp_nodelay, IPPROTO_TCP, TCP_NODELAY)
BOOL_OPT(ip_multicast_loop, IPPROTO_IP, IP_MULTICAST_LOOP)
BOOL_OPT(ip6_multicast_loop, IPPROTO_IPV6, IPV6_MULTICAST_LOOP)
BOOL_OPT(ip6_v6only, IPPROTO_IPV6, IPV6_V6ONLY)
INT_OPT(tcp_keepidle, IPPROTO_TCP, TCP_KEEPIDLE)
INT_OPT(tcp_keepcnt, IPPROTO_TCP, TCP_KEEPCNT)
INT_OPT(tcp_keepintvl, IPPROTO_TCP, TCP_KEEPINTVL)
INT_OPT(recv_buf_size, SOL_SOCKET, SO_RCVBUF)
INT_OPT(send_buf_size, SOL_SOCKET, SO_SNDBUF)
INT_OPT(ip6_unicast_hops, IPPROTO_IPV6, IPV6_UNICAST_HOPS)

static int set_tcp_defer_accept(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  return set_int(L, fd, IPPROTO_TCP, TCP_DEFER_ACCEPT);
}
static int set_tcp_fastopen(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  return set_int(L, fd, IPPROTO_TCP, TCP_FASTOPEN);
}
static int set_tcp_fastopen_connect(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  return set_int(L, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT);
}
static int set_ip_multicast_ttl(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  return set_int(L, fd, IPPROTO_IP, IP_MULTICAST_TTL);
}

/* linger: a table {on = boolean, timeout = number}; both fields are read
** with lua_gettable, as 3.1.0 does (a __index may supply them). */
static int set_linger(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  struct linger li;
  if (!lua_istable(L, 3)) table_expected(L, 3);
  lua_pushliteral(L, "on");
  lua_gettable(L, 3);
  if (!lua_isboolean(L, -1)) luaL_argerror(L, 3, "boolean 'on' field expected");
  li.l_onoff = (unsigned short)lua_toboolean(L, -1);
  lua_pushliteral(L, "timeout");
  lua_gettable(L, 3);
  if (!lua_isnumber(L, -1)) luaL_argerror(L, 3, "number 'timeout' field expected");
  li.l_linger = (unsigned short)to_int(lua_tonumber(L, -1));
  return opt_set(L, fd, SOL_SOCKET, SO_LINGER, &li, sizeof li);
}

static int get_linger(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  struct linger li;
  socklen_t len = sizeof li;
  int r = opt_get(L, fd, SOL_SOCKET, SO_LINGER, &li, &len);
  if (r) return r;
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, li.l_onoff);
  lua_setfield(L, -2, "on");
  lua_pushinteger(L, li.l_linger);
  lua_setfield(L, -2, "timeout");
  return 1;
}

static int set_ip_multicast_if(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  const char *address = luaL_checkstring(L, 3);
  struct in_addr val;
  val.s_addr = htonl(INADDR_ANY);
  if (strcmp(address, "*") != 0 && !inet_aton(address, &val)) luaL_argerror(L, 3, "ip expected");
  return opt_set(L, fd, IPPROTO_IP, IP_MULTICAST_IF, &val, sizeof val);
}

static int get_ip_multicast_if(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  struct in_addr val;
  socklen_t len = sizeof val;
  int r = opt_get(L, fd, IPPROTO_IP, IP_MULTICAST_IF, &val, &len);
  if (r) return r;
  char buf[INET_ADDRSTRLEN];
  lua_pushstring(L, inet_ntop(AF_INET, &val, buf, sizeof buf) ? buf : "0.0.0.0");
  return 1;
}

/* {multiaddr = "a.b.c.d", interface = "a.b.c.d" | "*"} */
static int set_membership(lua_State *L, gl_lsock *s, int name) {
  int fd = s->fd;
  struct ip_mreq val;
  if (!lua_istable(L, 3)) table_expected(L, 3);
  lua_pushliteral(L, "multiaddr");
  lua_gettable(L, 3);
  if (!lua_isstring(L, -1)) luaL_argerror(L, 3, "string 'multiaddr' field expected");
  if (!inet_aton(lua_tostring(L, -1), &val.imr_multiaddr))
    luaL_argerror(L, 3, "invalid 'multiaddr' ip address");
  lua_pushliteral(L, "interface");
  lua_gettable(L, 3);
  if (!lua_isstring(L, -1)) luaL_argerror(L, 3, "string 'interface' field expected");
  val.imr_interface.s_addr = htonl(INADDR_ANY);
  const char *ifc = lua_tostring(L, -1);
  if (strcmp(ifc, "*") != 0 && !inet_aton(ifc, &val.imr_interface))
    luaL_argerror(L, 3, "invalid 'interface' ip address");
  return opt_set(L, fd, IPPROTO_IP, name, &val, sizeof val);
}

/* {multiaddr = "ipv6", interface = index (optional)}. 3.1.0 reports a bad
** interface against argument -1, and so do we: the message is its. */
static int set_ip6_membership(lua_State *L, gl_lsock *s, int name) {
  int fd = s->fd;
  struct ipv6_mreq val;
  memset(&val, 0, sizeof val);
  if (!lua_istable(L, 3)) table_expected(L, 3);
  lua_pushliteral(L, "multiaddr");
  lua_gettable(L, 3);
  if (!lua_isstring(L, -1)) luaL_argerror(L, 3, "string 'multiaddr' field expected");
  if (inet_pton(AF_INET6, lua_tostring(L, -1), &val.ipv6mr_multiaddr) != 1)
    luaL_argerror(L, 3, "invalid 'multiaddr' ip address");
  lua_pushliteral(L, "interface");
  lua_gettable(L, 3);
  if (!lua_isnil(L, -1)) {
    if (lua_isnumber(L, -1))
      val.ipv6mr_interface = to_uint(lua_tonumber(L, -1));
    else
      luaL_argerror(L, -1, "number 'interface' field expected");
  }
  return opt_set(L, fd, IPPROTO_IPV6, name, &val, sizeof val);
}

static int set_ip_add_membership(lua_State *L, gl_lsock *s) {
  return set_membership(L, s, IP_ADD_MEMBERSHIP);
}
static int set_ip_drop_membership(lua_State *L, gl_lsock *s) {
  return set_membership(L, s, IP_DROP_MEMBERSHIP);
}
static int set_ip6_add_membership(lua_State *L, gl_lsock *s) {
  return set_ip6_membership(L, s, IPV6_ADD_MEMBERSHIP);
}
static int set_ip6_drop_membership(lua_State *L, gl_lsock *s) {
  return set_ip6_membership(L, s, IPV6_DROP_MEMBERSHIP);
}

/* The pending socket error, as LuaSocket names it; nil when there is none. */
static int get_error(lua_State *L, gl_lsock *s) {
  int fd = s->fd;
  int val = 0;
  socklen_t len = sizeof val;
  int r = opt_get(L, fd, SOL_SOCKET, SO_ERROR, &val, &len);
  if (r) return r;
  if (val == 0)
    lua_pushnil(L);
  else
    lua_pushstring(L, gl_ls_strerror(val));
  return 1;
}

/* ------------------------------------------------------------- tables */

const gl_ls_opt gl_ls_tcp_getopts[] = {
  {"keepalive", get_keepalive},
  {"reuseaddr", get_reuseaddr},
  {"reuseport", get_reuseport},
  {"tcp-nodelay", get_tcp_nodelay},
  {"tcp-keepidle", get_tcp_keepidle},
  {"tcp-keepcnt", get_tcp_keepcnt},
  {"tcp-keepintvl", get_tcp_keepintvl},
  {"linger", get_linger},
  {"error", get_error},
  {"recv-buffer-size", get_recv_buf_size},
  {"send-buffer-size", get_send_buf_size},
  {NULL, NULL}
};

const gl_ls_opt gl_ls_tcp_setopts[] = {
  {"keepalive", set_keepalive},
  {"reuseaddr", set_reuseaddr},
  {"reuseport", set_reuseport},
  {"tcp-nodelay", set_tcp_nodelay},
  {"tcp-keepidle", set_tcp_keepidle},
  {"tcp-keepcnt", set_tcp_keepcnt},
  {"tcp-keepintvl", set_tcp_keepintvl},
  {"ipv6-v6only", set_ip6_v6only},
  {"linger", set_linger},
  {"recv-buffer-size", set_recv_buf_size},
  {"send-buffer-size", set_send_buf_size},
  {"tcp-defer-accept", set_tcp_defer_accept},
  {"tcp-fastopen", set_tcp_fastopen},
  {"tcp-fastopen-connect", set_tcp_fastopen_connect},
  {NULL, NULL}
};

const gl_ls_opt gl_ls_udp_setopts[] = {
  {"dontroute", set_dontroute},
  {"broadcast", set_broadcast},
  {"reuseaddr", set_reuseaddr},
  {"reuseport", set_reuseport},
  {"ip-multicast-if", set_ip_multicast_if},
  {"ip-multicast-ttl", set_ip_multicast_ttl},
  {"ip-multicast-loop", set_ip_multicast_loop},
  {"ip-add-membership", set_ip_add_membership},
  {"ip-drop-membership", set_ip_drop_membership},
  {"ipv6-unicast-hops", set_ip6_unicast_hops},
  {"ipv6-multicast-hops", set_ip6_unicast_hops},  /* sic: 3.1.0 */
  {"ipv6-multicast-loop", set_ip6_multicast_loop},
  {"ipv6-add-membership", set_ip6_add_membership},
  {"ipv6-drop-membership", set_ip6_drop_membership},
  {"ipv6-v6only", set_ip6_v6only},
  {"recv-buffer-size", set_recv_buf_size},
  {"send-buffer-size", set_send_buf_size},
  {NULL, NULL}
};

const gl_ls_opt gl_ls_udp_getopts[] = {
  {"dontroute", get_dontroute},
  {"broadcast", get_broadcast},
  {"reuseaddr", get_reuseaddr},
  {"reuseport", get_reuseport},
  {"ip-multicast-if", get_ip_multicast_if},
  {"ip-multicast-loop", get_ip_multicast_loop},
  {"error", get_error},
  {"ipv6-unicast-hops", get_ip6_unicast_hops},
  {"ipv6-multicast-hops", get_ip6_unicast_hops},  /* sic: 3.1.0 */
  {"ipv6-multicast-loop", get_ip6_multicast_loop},
  {"ipv6-v6only", get_ip6_v6only},
  {"recv-buffer-size", get_recv_buf_size},
  {"send-buffer-size", get_send_buf_size},
  {NULL, NULL}
};

const gl_ls_opt gl_ls_unix_setopts[] = {
  {"keepalive", set_keepalive},
  {"reuseaddr", set_reuseaddr},
  {"linger", set_linger},
  {NULL, NULL}
};

const gl_ls_opt gl_ls_unixdgram_setopts[] = {
  {"reuseaddr", set_reuseaddr},
  {NULL, NULL}
};

/* socket.unix has no getoption in 3.1.0: an empty table, for symmetry. */
const gl_ls_opt gl_ls_unix_getopts[] = {
  {NULL, NULL}
};

/* Look the name (argument 2) up and run its handler on the object at 1. */
static int dispatch(lua_State *L, const gl_ls_opt *t, gl_lsock *s) {
  const char *name = luaL_checkstring(L, 2);
  while (t->name && strcmp(name, t->name) != 0) t++;
  if (t->fn == NULL) {
    char msg[64];
    snprintf(msg, sizeof msg, "unsupported option `%.35s'", name);
    luaL_argerror(L, 2, msg);
  }
  return t->fn(L, s);
}

int gl_ls_setoption(lua_State *L, const gl_ls_opt *opts, gl_lsock *s) {
  return dispatch(L, opts, s);
}

int gl_ls_getoption(lua_State *L, const gl_ls_opt *opts, gl_lsock *s) {
  return dispatch(L, opts, s);
}
