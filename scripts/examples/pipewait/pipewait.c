/*
** pipewait.c: a tiny C module that waits on a pipe through greenlua.h, to
** show how a C library's own fd runs green (`make examples` builds
** build/examples/pipewait.so; example.lua uses it).
**
**   pipewait.pipe()              -> rfd, wfd (non-blocking), or nil, err
**   pipewait.read(fd, n, timeout) -> up to n bytes; "" at end of file;
**                                   nil, "timeout" / "closed" / err
**   pipewait.write(fd, s)        -> bytes written, or nil, err
**   pipewait.close(fd)           -> true, or nil, err
** read waits with greenlua_wait: under greenlua the other green threads
** run meanwhile; under plain lua5.4 it blocks in poll().
*/
#define _GNU_SOURCE  /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include "greenlua.h"

static int fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, strerror(err));
  return 2;
}

static int l_pipe(lua_State *L) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return fail(L, errno);
  lua_pushinteger(L, fds[0]);
  lua_pushinteger(L, fds[1]);
  return 2;
}

static int try_read(lua_State *L);

/* After the wait: the stack is fd, n, timeout, then the wait's two results. */
static int read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_isnil(L, -2)) return 2;  /* nil, "timeout" | "closed" */
  lua_pop(L, 2);
  return try_read(L);
}

static int try_read(lua_State *L) {
  int fd = (int)lua_tointeger(L, 1);
  size_t n = (size_t)lua_tointeger(L, 2);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n);
  ssize_t got;
  do got = read(fd, p, n); while (got < 0 && errno == EINTR);
  if (got >= 0) {
    luaL_pushresultsize(&b, (size_t)got);
    return 1;
  }
  int err = errno;
  if (err != EAGAIN && err != EWOULDBLOCK) return fail(L, err);
  lua_settop(L, 3);  /* drop the buffer: the stack read_k expects */
  double timeout = lua_isnil(L, 3) ? -1 : lua_tonumber(L, 3);
  return greenlua_wait(L, fd, "r", timeout, 0, read_k);
}

static int l_read(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_Integer n = luaL_optinteger(L, 2, 4096);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "bad file descriptor");
  luaL_argcheck(L, n > 0 && n <= (1 << 24), 2, "count out of range");
  if (!lua_isnoneornil(L, 3)) luaL_checknumber(L, 3);
  lua_settop(L, 3);
  return try_read(L);
}

static int l_write(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "bad file descriptor");
  ssize_t put;
  do put = write((int)fd, s, len); while (put < 0 && errno == EINTR);
  if (put < 0) return fail(L, errno);
  lua_pushinteger(L, put);
  return 1;
}

static int l_close(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "bad file descriptor");
  if (close((int)fd) != 0) return fail(L, errno);
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_pipewait(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"pipe", l_pipe}, {"read", l_read}, {"write", l_write}, {"close", l_close}, {NULL, NULL}
  };
  luaL_newlib(L, fns);
  return 1;
}
