/*
** select.c: socket.select(recvt, sendt, timeout), as 3.1.0's select.c,
** green and without FD_SETSIZE's limit.
**
** Contract: the same results as 3.1.0: two tables, each both an array of
** the ready objects and a map object -> index (make_assoc), readable ones
** that are dirty (buffered data) first in recvt's order, then the ready
** ones by ascending fd; with nothing ready in time: two empty tables and
** "timeout". Elements are anything with getfd() (dirty() optional);
** getfd() < 0 skips it. A dirty readable one makes the call not wait. The
** wait is one green wait on all fds (gl_fd_wait_set); what is ready is then
** read with poll(), so any fd number works. A bad fd counts as ready (as
** poll's POLLNVAL), where 3.1.0 raises "select failed". _SETSIZE is the
** process's descriptor limit (RLIMIT_NOFILE), not FD_SETSIZE.
**
** Stack while it runs: 1 recvt, 2 sendt, 3 timeout, 4 itab (fd -> object),
** 5 the pollfd array (userdata), 6 the call's start time, 7 the dirty list.
*/
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "core/hub.h"
#include "luasocket/lsock.h"

typedef struct pfds {
  int n, nr;        /* entries; the first nr are from recvt */
  struct pollfd p[];
} pfds;

/* getfd() of the object on top: the fd, or -1. */
static int getfd(lua_State *L) {
  int fd = -1;
  lua_pushliteral(L, "getfd");
  lua_gettable(L, -2);
  if (!lua_isnil(L, -1)) {
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    if (lua_isnumber(L, -1)) {
      double n = lua_tonumber(L, -1);
      fd = n >= 0.0 && n <= 0x7fffffff ? (int)n : -1;
    }
  }
  lua_pop(L, 1);
  return fd;
}

static int isdirty(lua_State *L) {
  int is = 0;
  lua_pushliteral(L, "dirty");
  lua_gettable(L, -2);
  if (!lua_isnil(L, -1)) {
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    is = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return is;
}

static lua_Integer count(lua_State *L, int tab) {
  if (lua_isnil(L, tab)) return 0;
  luaL_checktype(L, tab, LUA_TTABLE);
  lua_Integer i = 1;
  while (lua_geti(L, tab, i) != LUA_TNIL) {
    lua_pop(L, 1);
    i++;
  }
  lua_pop(L, 1);
  return i - 1;
}

/* Add the objects of table 'tab' to the pollfd array; note in the dirty
** list (7) the dirty ones, if 'dirty'. */
static void collect(lua_State *L, int tab, pfds *pf, short events, int dirty, lua_Integer *ndirty) {
  if (lua_isnil(L, tab)) return;
  for (lua_Integer i = 1;; i++) {
    if (lua_geti(L, tab, i) == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    int fd = getfd(L);
    if (fd >= 0) {
      lua_pushinteger(L, fd);
      lua_pushvalue(L, -2);
      lua_settable(L, 4);
      if (dirty && isdirty(L)) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, 7, ++*ndirty);
        fd = -1;  /* FD_CLR: reported as dirty, not again as ready */
      }
      pf->p[pf->n].fd = fd;
      pf->p[pf->n].events = events;
      pf->p[pf->n].revents = 0;
      pf->n++;
    }
    lua_pop(L, 1);
  }
}

static int cmp_fd(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Push the table of ready objects from entries [from, to) of the pollfd
** array (ascending fd, each once), after 'start' dirty ones (from 7). */
static void result(lua_State *L, pfds *pf, int from, int to, lua_Integer start) {
  lua_newtable(L);
  int tab = lua_gettop(L);
  lua_Integer n = 0;
  for (lua_Integer i = 1; i <= start; i++) {
    lua_rawgeti(L, 7, i);
    lua_rawseti(L, tab, ++n);
  }
  int m = to - from;
  int *fds = m > 0 ? lua_newuserdatauv(L, (size_t)m * sizeof(int), 0) : NULL;
  int k = 0;
  for (int i = from; i < to; i++) {
    short bad = pf->p[i].revents & (POLLERR | POLLHUP | POLLNVAL);
    if (pf->p[i].fd >= 0 && ((pf->p[i].revents & pf->p[i].events) || bad)) fds[k++] = pf->p[i].fd;
  }
  if (k > 1) qsort(fds, (size_t)k, sizeof(int), cmp_fd);
  for (int i = 0; i < k; i++) {
    if (i > 0 && fds[i] == fds[i - 1]) continue;
    lua_pushinteger(L, fds[i]);
    lua_gettable(L, 4);
    lua_rawseti(L, tab, ++n);
  }
  if (fds) lua_pop(L, 1);
  /* make_assoc: object -> index too */
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, tab, i);
    lua_pushnumber(L, (lua_Number)i);  /* 3.1.0 pushes a float */
    lua_settable(L, tab);
  }
}

static int check(pfds *pf) {
  int r;
  do r = poll(pf->p, (nfds_t)pf->n, 0); while (r < 0 && errno == EINTR);
  return r;
}

static int finish(lua_State *L, pfds *pf, int ready, lua_Integer ndirty) {
  if (ready > 0 || ndirty > 0) {
    result(L, pf, 0, pf->nr, ndirty);
    result(L, pf, pf->nr, pf->n, 0);
    return 2;
  }
  lua_newtable(L);
  lua_newtable(L);
  lua_pushliteral(L, "timeout");
  return 3;
}

static int wait_more(lua_State *L, pfds *pf);

static int select_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int woken = lua_isinteger(L, -1);
  lua_settop(L, 7);
  pfds *pf = lua_touserdata(L, 5);
  int ready = check(pf);
  if (ready != 0 || !woken) return finish(L, pf, ready, 0);
  return wait_more(L, pf);  /* woken, yet nothing ready now: wait what is left */
}

static int wait_more(lua_State *L, pfds *pf) {
  double t = lua_tonumber(L, 3), start = lua_tonumber(L, 6);
  if (t >= 0) {
    t -= gl_ls_gettime() - start;
    if (t <= 0) return finish(L, pf, 0, 0);
  }
  gl_fdset *set = gl_fd_newset(L, pf->n);
  for (int i = 0; i < pf->n; i++) {
    set->item[i].fd = pf->p[i].fd;
    set->item[i].events = (pf->p[i].events & POLLIN ? GL_LS_R : 0) | (pf->p[i].events & POLLOUT ? GL_LS_W : 0);
  }
  set->n = pf->n;
  return gl_fd_wait_set(L, set, t < 0 ? -1 : t, "select", select_k);
}

static int global_select(lua_State *L) {
  double t = luaL_optnumber(L, 3, -1);
  lua_settop(L, 3);
  lua_pushnumber(L, t != t ? -1 : t);
  lua_replace(L, 3);
  lua_Integer nr = count(L, 1), nw = count(L, 2);
  if (nr + nw > 0x7ffffff) return luaL_error(L, "select: too many sockets");
  lua_newtable(L);                                                /* 4 */
  pfds *pf = lua_newuserdatauv(L, sizeof(pfds) + (size_t)(nr + nw) * sizeof(struct pollfd), 0);
  pf->n = 0;                                                      /* 5 */
  lua_pushnumber(L, gl_ls_gettime());                             /* 6 */
  lua_newtable(L);                                                /* 7 */
  lua_Integer ndirty = 0;
  collect(L, 1, pf, POLLIN, 1, &ndirty);
  pf->nr = pf->n;
  collect(L, 2, pf, POLLOUT, 0, &ndirty);
  int ready = check(pf);
  if (ready != 0 || ndirty > 0 || t == 0) return finish(L, pf, ready, ndirty);
  return wait_more(L, pf);
}

/* _SETSIZE: how many sockets select handles. 3.1.0's FD_SETSIZE (1024)
** does not bound ours; the process's descriptor limit does. (LuaSocket's
** own testclnt.lua expects select to raise past _SETSIZE sockets.) */
static lua_Integer setsize(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return FD_SETSIZE;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 0x7fffffff) return 0x7fffffff;
  return rl.rlim_cur < FD_SETSIZE ? FD_SETSIZE : (lua_Integer)rl.rlim_cur;
}

void gl_ls_open_select(lua_State *L) {
  lua_pushinteger(L, setsize());
  lua_setfield(L, -2, "_SETSIZE");
  lua_pushinteger(L, GL_LS_INVALID);
  lua_setfield(L, -2, "_SOCKETINVALID");
  lua_pushcfunction(L, global_select);
  lua_setfield(L, -2, "select");
}
