/*
** inet.c: names, families, green resolving, socket creation and bind for
** the green socket.core's inet classes (tcp, udp), as 3.1.0's inet.c.
**
** Contract:
**  - gl_ls_resolve: a numeric host (or none: bind "*") resolves at once,
**    without a switch; any other name through uv_getaddrinfo on libuv's
**    thread pool, blocking only the calling green thread. Its result, an
**    addrinfo list, is owned by a userdata (freed when collected), so a
**    call that waits again later (connect) keeps it on its stack. An
**    interrupted lookup (kill, Timeout) is abandoned: its callback frees it.
**  - getsockname gives the port as a string, getpeername as an integer, as
**    3.1.0 does; the family as "inet" / "inet6".
**  - Creation: IPV6_V6ONLY on inet6 sockets; the fd non-blocking.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include "core/hub.h"
#include "luasocket/lsock.h"

#define AI_MT "greenlua.addrinfo"

typedef struct ai_box { struct addrinfo *ai; } ai_box;

static int ai_gc(lua_State *L) {
  ai_box *b = luaL_checkudata(L, 1, AI_MT);
  if (b->ai) freeaddrinfo(b->ai);
  b->ai = NULL;
  return 0;
}

static void push_box(lua_State *L, struct addrinfo *ai) {
  ai_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->ai = NULL;
  if (luaL_newmetatable(L, AI_MT)) {
    lua_pushcfunction(L, ai_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  b->ai = ai;
}

struct addrinfo *gl_ls_addrinfo(lua_State *L, int idx) {
  ai_box *b = luaL_testudata(L, idx, AI_MT);
  return b ? b->ai : NULL;
}

/* A lookup in flight. The waiter sits in 'q'; the callback wakes it with
** the request as a light userdata, or, abandoned, frees everything. */
typedef struct lookup {
  uv_getaddrinfo_t req;
  gl_waitq q;
  gl_thread *waiter;
  int status, done, abandoned;
  struct addrinfo *res;
} lookup;

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  lookup *lk = req->data;
  if (lk->abandoned) {
    if (res) uv_freeaddrinfo(res);
    free(lk);
    return;
  }
  lk->status = status;
  lk->res = res;
  lk->done = 1;
  /* interrupted (a kill, a Timeout) but not run yet: its cancel hook,
  ** which runs as it resumes, finds the lookup done and frees it */
  if (lk->waiter->queue != &lk->q) return;
  lua_pushlightuserdata(gl_H.L, lk);
  gl_wake(gl_H.L, lk->waiter);
}

/* The stack: ... k(lightuserdata) lk(lightuserdata) tag value, or, handed
** the answer and then interrupted: ... k lk err GL_WOKEN value (hub.c's
** block_k puts the error under the tag). */
static void resolve_cancel(lua_State *L) {
  int below = lua_touserdata(L, -2) == GL_WOKEN ? 1 : 0;
  lookup *lk = lua_touserdata(L, -3 - below);
  if (lk->done) {  /* answered, then interrupted before it ran */
    if (lk->res) uv_freeaddrinfo(lk->res);
    free(lk);
  } else {
    lk->abandoned = 1;
    uv_cancel((uv_req_t *)&lk->req);  /* may fail: the callback still comes */
  }
}

static int map_uv_gai(int status) {
  switch (status) {
    case UV_EAI_AGAIN: return EAI_AGAIN;
    case UV_EAI_BADFLAGS: return EAI_BADFLAGS;
    case UV_EAI_FAIL: return EAI_FAIL;
    case UV_EAI_FAMILY: return EAI_FAMILY;
    case UV_EAI_MEMORY: return EAI_MEMORY;
    case UV_EAI_NODATA: case UV_EAI_NONAME: return EAI_NONAME;
#ifdef EAI_OVERFLOW
    case UV_EAI_OVERFLOW: return EAI_OVERFLOW;
#endif
    case UV_EAI_SERVICE: return EAI_SERVICE;
    case UV_EAI_SOCKTYPE: return EAI_SOCKTYPE;
    default: return EAI_FAIL;
  }
}

static int call_k(lua_State *L, lua_KFunction k) {
  return k(L, LUA_OK, 0);
}

static int resolve_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lookup *lk = lua_touserdata(L, -3);
  lua_KFunction k;
  void *kp = lua_touserdata(L, -4);
  memcpy(&k, &kp, sizeof k);
  lua_pop(L, 4);
  int st = lk->status;
  struct addrinfo *res = lk->res;
  free(lk);
  if (st != 0) {
    if (res) uv_freeaddrinfo(res);
    lua_pushnil(L);
    lua_pushstring(L, gl_ls_gaistrerror(map_uv_gai(st)));
    return call_k(L, k);
  }
  push_box(L, res);
  return call_k(L, k);
}

int gl_ls_resolve(lua_State *L, const char *host, const char *serv,
                  const struct addrinfo *hints, const char *what, lua_KFunction k) {
  struct addrinfo h = *hints, *res = NULL;
  h.ai_flags |= AI_NUMERICHOST;
  luaL_checkstack(L, 4, "resolve");
  int err = getaddrinfo(host, serv, &h, &res);
  if (err == 0 || host == NULL || err != EAI_NONAME) {
    if (err != 0) {
      if (res) freeaddrinfo(res);
      lua_pushnil(L);
      lua_pushstring(L, gl_ls_gaistrerror(err));
      return call_k(L, k);
    }
    push_box(L, res);
    return call_k(L, k);
  }
  gl_thread *t = gl_check_block(L, what);
  lookup *lk = calloc(1, sizeof *lk);
  if (lk == NULL) return luaL_error(L, "not enough memory");
  lk->req.data = lk;
  lk->waiter = t;
  err = uv_getaddrinfo(gl_H.loop, &lk->req, on_resolved, host, serv, hints);
  if (err != 0) {
    free(lk);
    lua_pushnil(L);
    lua_pushstring(L, gl_ls_gaistrerror(map_uv_gai(err)));
    return call_k(L, k);
  }
  void *kp;
  memcpy(&kp, &k, sizeof kp);
  lua_pushlightuserdata(L, kp);
  lua_pushlightuserdata(L, lk);
  return gl_block_cancel(L, what, &lk->q, -1, resolve_k, resolve_cancel);
}

const char *gl_ls_family_name(int family) {
  switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNSPEC: return "unspec";
    default: return "unknown";
  }
}

static int name_of(lua_State *L, gl_lsock *s, int peer) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  char name[INET6_ADDRSTRLEN], port[6];
  int r = peer ? getpeername(s->fd, (struct sockaddr *)&a, &len)
               : getsockname(s->fd, (struct sockaddr *)&a, &len);
  if (r < 0) {
    return gl_ls_fail(L, gl_ls_strerror(errno));
  }
  int err = getnameinfo((struct sockaddr *)&a, len, name, sizeof name, port, sizeof port,
                        NI_NUMERICHOST | NI_NUMERICSERV);
  if (err) {
    return gl_ls_fail(L, gai_strerror(err));
  }
  lua_pushstring(L, name);
  if (peer) lua_pushinteger(L, (int)strtol(port, NULL, 10));
  else lua_pushstring(L, port);
  lua_pushstring(L, gl_ls_family_name(s->family));
  return 3;
}

int gl_ls_getpeername(lua_State *L, gl_lsock *s) {
  return name_of(L, s, 1);
}

int gl_ls_getsockname(lua_State *L, gl_lsock *s) {
  return name_of(L, s, 0);
}

int gl_ls_create(gl_lsock *s, int family) {
  gl_ls_closefd(NULL, s);
  int fd = socket(family, s->kind | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  if (family == AF_INET6) {
    int yes = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof yes);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  gl_ls_own(fd);
  s->fd = fd;
  return 0;
}

const char *gl_ls_trybind(lua_State *L, gl_lsock *s, int idx) {
  const char *err = "host or service not provided, or not known";
  int family = s->family;
  for (struct addrinfo *it = gl_ls_addrinfo(L, idx); it; it = it->ai_next) {
    if (family != it->ai_family || s->fd < 0) {
      int e = gl_ls_create(s, it->ai_family);
      if (e) { err = gl_ls_strerror(e); continue; }
      family = it->ai_family;
    }
    if (bind(s->fd, it->ai_addr, it->ai_addrlen) == 0) {
      s->family = family;
      return NULL;
    }
    err = gl_ls_strerror(errno);
  }
  return err;
}

const char *gl_ls_tryconnect_now(lua_State *L, gl_lsock *s, int idx) {
  const char *err = "host or service not provided, or not known";
  int family = s->family;
  for (struct addrinfo *it = gl_ls_addrinfo(L, idx); it; it = it->ai_next) {
    if (family != it->ai_family || s->fd < 0) {
      int e = gl_ls_create(s, it->ai_family);
      if (e) { err = gl_ls_strerror(e); continue; }
      family = it->ai_family;
    }
    int r;
    do r = connect(s->fd, it->ai_addr, it->ai_addrlen); while (r < 0 && errno == EINTR);
    if (r == 0) {
      s->family = family;
      return NULL;
    }
    err = gl_ls_strerror(errno == EINPROGRESS || errno == EAGAIN ? LS_TIMEOUT : errno);
  }
  return err;
}
