/*
** net.h: name resolution for the socket modules (net.c, udp.c), and the
** argument checks they share.
**
** A lookup runs on libuv's resolver threads and blocks only the calling
** green thread, at most until its deadline. A running getaddrinfo cannot be
** cancelled: a caller that stops waiting (deadline, kill, Timeout) leaves
** the request behind, and the request frees itself when its answer comes.
*/
#ifndef GL_NET_H
#define GL_NET_H

#include <lua.h>
#include <netdb.h>
#include <sys/socket.h>

/* Resolve the name 'host' for a socket of 'family' (AF_UNSPEC, AF_INET,
** AF_INET6) and 'socktype'. Pushes the request's guard (a userdata) on
** top of the caller's frame and blocks at most 'seconds' (< 0: no limit);
** the thread continues in 'k', where gl_resolved takes the answer. With
** AF_INET6, IPv4-only names come back as IPv4-mapped addresses. May return
** at once instead (nil, err pushed), e.g. out of memory. */
int gl_resolve(lua_State *L, const char *what, const char *host, int family,
               int socktype, double seconds, lua_KFunction k);

/* In gl_resolve's continuation: pop the resume tag, its value and the
** request's guard. Returns the answer (free it with uv_freeaddrinfo), or NULL with
** *err set (a libuv code: UV_ETIMEDOUT at the deadline). */
struct addrinfo *gl_resolved(lua_State *L, int *err);

/* Argument checks whose errors name 'fn', the function the user called,
** even where Lua cannot tell it (a call through pcall, a metamethod fetched
** by hand): never '?' nor green.core.x. As with luaL_argerror, a method
** call counts its arguments after self. */
int gl_net_argerror(lua_State *L, int arg, const char *fn, const char *msg);
int gl_net_typeerror(lua_State *L, int arg, const char *fn, const char *tname);
/* A string (or a number, as luaL_checklstring takes). */
const char *gl_net_checkstring(lua_State *L, int arg, const char *fn, size_t *len);
/* An integer; an integral float counts. */
lua_Integer gl_net_checkinteger(lua_State *L, int arg, const char *fn);
/* An optional timeout: nil -> -1 (none), else seconds >= 0; NaN raises. */
double gl_net_opttimeout(lua_State *L, int arg, const char *fn);
/* An address family: nil -> AF_UNSPEC, "inet", "inet6". */
int gl_opt_family(lua_State *L, int arg, const char *fn);
/* A port: an integer in 0..65535. */
int gl_check_port(lua_State *L, int arg, const char *fn);

#endif
