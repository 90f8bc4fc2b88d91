/*
** base.c: what every green LuaSocket object shares (see lsock.h): the
** timeout rules of 3.1.0's timeout.c, its error strings (usocket.c,
** pierror.h), its classes and groups (auxiliar.c), the object's life, and
** the wait, which is gl_fd_wait where LuaSocket calls poll().
**
** Contract: results are LuaSocket 3.1.0's as Debian builds it (numbers are
** floats where it pushes lua_Number: settimeout's 1.0, gettimeout's -1.0);
** a misused method raises luaL_argerror's message as LuaSocket's does.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "core/hub.h"
#include "luasocket/lsock.h"

/* ------------------------------------------------------------ timeouts */

double gl_ls_gettime(void) {
  struct timeval v;
  gettimeofday(&v, NULL);
  return v.tv_sec + v.tv_usec / 1.0e6;
}

static double dmax(double a, double b) { return a > b ? a : b; }
static double dmin(double a, double b) { return a < b ? a : b; }

double gl_ls_retry(const gl_ls_tm *tm, double start) {
  if (tm->block < 0.0 && tm->total < 0.0) return -1;
  double now = gl_ls_gettime();
  if (tm->block < 0.0) return dmax(tm->total - now + start, 0.0);
  if (tm->total < 0.0) return dmax(tm->block - now + start, 0.0);
  return dmin(tm->block, dmax(tm->total - now + start, 0.0));
}

double gl_ls_tmget(const gl_ls_tm *tm, double start) {
  if (tm->block < 0.0 && tm->total < 0.0) return -1;
  if (tm->block < 0.0) return dmax(tm->total - gl_ls_gettime() + start, 0.0);
  if (tm->total < 0.0) return tm->block;
  return dmin(tm->block, dmax(tm->total - gl_ls_gettime() + start, 0.0));
}

int gl_ls_settimeout(lua_State *L, gl_ls_tm *tm) {
  double t = luaL_optnumber(L, 2, -1);
  const char *mode = luaL_optstring(L, 3, "b");
  switch (*mode) {
    case 'b': tm->block = t; break;
    case 'r': case 't': tm->total = t; break;
    default: luaL_argcheck(L, 0, 3, "invalid timeout mode"); break;
  }
  lua_pushnumber(L, 1);
  return 1;
}

int gl_ls_gettimeout(lua_State *L, gl_ls_tm *tm) {
  lua_pushnumber(L, tm->block);
  lua_pushnumber(L, tm->total);
  return 2;
}

/* ------------------------------------------------------------ errors */

const char *gl_ls_strerror(int err) {
  if (err <= 0) {
    switch (err) {
      case LS_DONE: return NULL;
      case LS_CLOSED: return "closed";
      case LS_TIMEOUT: return "timeout";
      default: return "unknown error";
    }
  }
  switch (err) {
    case EADDRINUSE: return "address already in use";
    case EISCONN: return "already connected";
    case EACCES: return "permission denied";
    case ECONNREFUSED: return "connection refused";
    case ECONNABORTED: return "closed";
    case ECONNRESET: return "closed";
    case ETIMEDOUT: return "timeout";
    default: return strerror(err);
  }
}

const char *gl_ls_gaistrerror(int err) {
  switch (err) {
    case 0: return NULL;
    case EAI_AGAIN: return "temporary failure in name resolution";
    case EAI_BADFLAGS: return "invalid value for ai_flags";
    case EAI_FAIL: return "non-recoverable failure in name resolution";
    case EAI_FAMILY: return "ai_family not supported";
    case EAI_MEMORY: return "memory allocation failure";
    case EAI_NONAME: return "host or service not provided, or not known";
#ifdef EAI_OVERFLOW
    case EAI_OVERFLOW: return "argument buffer overflow";
#endif
    case EAI_SERVICE: return "service not supported for socket type";
    case EAI_SOCKTYPE: return "ai_socktype not supported";
    case EAI_SYSTEM: return strerror(errno);
    default: return gai_strerror(err);
  }
}

const char *gl_ls_hoststrerror(int err) {
  if (err <= 0) return gl_ls_strerror(err);
  if (err == HOST_NOT_FOUND) return "host not found";
  return hstrerror(err);
}

/* ------------------------------------------------------------ classes */

/* Our metatables live in the registry under "greenlua." .. class, not the
** class name: Debian's real socket.core registers "tcp{master}" & co. in
** the same registry (green.original loads it beside ours), and its
** auxiliar_newclass would overwrite the __index of a metatable of that
** name. Each is also a key of the registry's METAS table, so a real
** LuaSocket object (same group fields) is never taken for one of ours,
** while the metatable's keys stay 3.1.0's. __name is the class, as there. */
#define METAS "_GREENLUA_LSOCK_METATABLES"

static void regname(char *buf, size_t n, const char *cls) {
  snprintf(buf, n, "greenlua.%s", cls);
}

void gl_ls_newclass(lua_State *L, const char *cls, const luaL_Reg *methods) {
  char name[64];
  regname(name, sizeof name, cls);
  luaL_newmetatable(L, name);
  lua_pushstring(L, cls);
  lua_setfield(L, -2, "__name");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, METAS);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushstring(L, cls);
  lua_setfield(L, -2, "class");
  for (; methods->name; methods++) {
    lua_pushcfunction(L, methods->func);
    lua_setfield(L, methods->name[0] == '_' ? -3 : -2, methods->name);
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

static void push_meta(lua_State *L, const char *cls) {
  char name[64];
  regname(name, sizeof name, cls);
  luaL_getmetatable(L, name);
}

void gl_ls_add2group(lua_State *L, const char *cls, const char *group) {
  push_meta(L, cls);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, group);
  lua_pop(L, 1);
}

gl_lsock *gl_ls_checkclass(lua_State *L, const char *cls, int idx) {
  char name[64];
  regname(name, sizeof name, cls);
  gl_lsock *s = luaL_testudata(L, idx, name);
  if (s == NULL) {
    char msg[45];
    snprintf(msg, sizeof msg, "%.35s expected", cls);
    luaL_argerror(L, idx, msg);
  }
  return s;
}

gl_lsock *gl_ls_testgroup(lua_State *L, const char *group, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return NULL;
  int member = lua_getfield(L, -1, group) != LUA_TNIL;
  lua_getfield(L, LUA_REGISTRYINDEX, METAS);
  lua_pushvalue(L, -3);
  int ours = lua_rawget(L, -2) == LUA_TBOOLEAN;
  lua_pop(L, 4);
  return member && ours ? lua_touserdata(L, idx) : NULL;
}

gl_lsock *gl_ls_checkgroup(lua_State *L, const char *group, int idx) {
  gl_lsock *s = gl_ls_testgroup(L, group, idx);
  if (s == NULL) {
    char msg[45];
    snprintf(msg, sizeof msg, "%.35s expected", group);
    luaL_argerror(L, idx, msg);
  }
  return s;
}

int gl_ls_tostring(lua_State *L) {
  char buf[32];
  if (lua_type(L, 1) == LUA_TUSERDATA && luaL_getmetafield(L, 1, "__index") == LUA_TTABLE) {
    if (lua_getfield(L, -1, "class") == LUA_TSTRING) {
      snprintf(buf, sizeof buf, "%p", lua_touserdata(L, 1));
      lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), buf);
      return 1;
    }
  }
  return luaL_error(L, "invalid object passed to 'auxiliar.c:__tostring'");
}

int gl_ls_checkboolean(lua_State *L, int idx) {
  if (!lua_isboolean(L, idx)) {
    const char *msg = lua_pushfstring(L, "%s expected, got %s", lua_typename(L, LUA_TBOOLEAN),
                                      luaL_typename(L, idx));
    luaL_argerror(L, idx, msg);
  }
  return lua_toboolean(L, idx);
}

/* ------------------------------------------------------------ objects */

/* Descriptors the green socket objects made (socket, accept): only those
** are ever closed by close() or adopted by setfd(n). A number given by the
** user could be one of libuv's; closing that would break the loop. */
static unsigned char *owned;
static size_t nowned;

static int is_owned(int fd) {
  return fd >= 0 && (size_t)fd < nowned && owned[fd];
}

void gl_ls_own(int fd) {
  if (fd < 0) return;
  if ((size_t)fd >= nowned) {
    size_t n = nowned ? nowned : 256;
    while (n <= (size_t)fd) n *= 2;
    unsigned char *o = realloc(owned, n);
    if (o == NULL) return;  /* not recorded: the fd is never closed by us (a leak, not a crash) */
    memset(o + nowned, 0, n - nowned);
    owned = o;
    nowned = n;
  }
  owned[fd] = 1;
}

void gl_ls_closefd(lua_State *L, gl_lsock *s) {
  if (s->fd < 0) return;
  gl_fd_forget(L, s->fd);
  if (is_owned(s->fd)) {
    owned[s->fd] = 0;
    close(s->fd);
  }
  s->fd = GL_LS_INVALID;
}

int gl_ls_setfd(lua_State *L, gl_lsock *s) {
  lua_Number n = luaL_checknumber(L, 2);
  int fd = n >= 0 && n <= 0x7fffffff ? (int)n : GL_LS_INVALID;
  if (fd == s->fd) return 0;
  if (fd >= 0 && !is_owned(fd))
    return luaL_error(L, "setfd: not supported (fd %d is not a green socket's)", fd);
  if (s->fd >= 0) {
    gl_fd_forget(L, s->fd);
    /* given away (LuaSec's setfd(-1)): the taker closes it now */
    if (fd < 0 && is_owned(s->fd)) owned[s->fd] = 0;
  }
  s->fd = fd;
  return 0;
}

gl_lsock *gl_ls_new(lua_State *L, const char *cls, int fd, int family, int kind) {
  gl_lsock *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->fd = fd;
  s->family = family;
  s->kind = kind;
  s->tm.block = s->tm.total = -1;
  gl_ls_buf_init(&s->buf);
  push_meta(L, cls);
  lua_setmetatable(L, -2);
  if (fd >= 0) {
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    gl_ls_own(fd);
  }
  return s;
}

void gl_ls_destroy(lua_State *L, gl_lsock *s) {
  gl_ls_closefd(L, s);
  gl_ls_buf_free(&s->buf);
}

void gl_ls_setclass(lua_State *L, int idx, const char *cls) {
  idx = lua_absindex(L, idx);
  push_meta(L, cls);
  lua_setmetatable(L, idx);
}

/* ------------------------------------------------------------ the wait */

int gl_ls_wait(lua_State *L, gl_lsock *s, int events, double seconds,
               const char *what, lua_KFunction k) {
  return gl_fd_wait(L, s->fd, events, seconds, what, k);
}

int gl_ls_waited(lua_State *L) {
  if (lua_isinteger(L, -1)) {
    lua_pop(L, 1);
    return LS_DONE;
  }
  const char *why = lua_tostring(L, -1);
  int r = why && strcmp(why, "timeout") == 0 ? LS_TIMEOUT : LS_CLOSED;
  lua_pop(L, 2);
  return r;
}
