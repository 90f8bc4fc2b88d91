/*
** dns.c: socket.dns of the green socket.core (toip, tohostname,
** getaddrinfo, getnameinfo, gethostname). (The socket classes resolve
** through inet.c's gl_ls_resolve.)
**
** Contract (the reference is Debian's LuaSocket 3.1.0 under lua5.4):
**  - Same calls, same results, same strings as 3.1.0: toip and tohostname
**    go through gethostbyname/gethostbyaddr (IPv4, aliases and all) and
**    answer nil, "host not found"; getaddrinfo and getnameinfo answer with
**    LuaSocket's own getaddrinfo strings ("host or service not provided, or
**    not known", ...); argument errors are luaL's, as 3.1.0 raises them
**    ("host and serv cannot be both nil").
**  - Green: every lookup that may touch the network runs on libuv's thread
**    pool (uv_queue_work running the reentrant libc call: gethostbyname_r,
**    gethostbyaddr_r, getaddrinfo, getnameinfo) and blocks only the calling
**    green thread. Numeric addresses are answered at once, without a switch.
**  - A lookup can be interrupted (kill, Timeout): the caller raises at once
**    and the request is left to finish and free itself; a request never
**    touches Lua after its waiter stopped waiting, nor after lua_close
**    (its guard, a userdata in the waiter's frame, abandons it when
**    collected).
**  - gethostname is a plain system call.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "core/hub.h"
#include "luasocket/lsock.h"

enum { JOB_GETHOST, JOB_GAI, JOB_GNI };

typedef struct dns_job {
  uv_work_t req;
  gl_waitq waiter;
  int kind, done, abandoned;
  const char *node, *serv;     /* point into 'strings' (or NULL) */
  struct addrinfo hints;
  /* answers */
  int err;                     /* h_errno-like (GETHOST) or EAI_* code */
  int sys_errno;               /* errno beside EAI_SYSTEM / no h_errno */
  struct addrinfo *res;        /* JOB_GAI */
  struct hostent he;           /* JOB_GETHOST: points into hbuf */
  char *hbuf;
  char *names;                 /* JOB_GNI: n host names, NI_MAXHOST each */
  int nnames;
  char servname[NI_MAXSERV];
  char strings[];
} dns_job;

#define GUARD_MT "greenlua.socket.dns_request"
typedef struct dns_guard {
  dns_job *j;  /* NULL once the answer was taken or the job abandoned */
} dns_guard;

/* --------------------------------------------------------- pool side */

static void do_gethost(dns_job *j) {
  struct in_addr addr;
  struct hostent *hp = NULL;
  size_t size = 1024;
  int herr = 0, r;
  for (;;) {
    char *buf = realloc(j->hbuf, size);
    if (buf == NULL) {
      j->err = NO_RECOVERY;
      return;
    }
    j->hbuf = buf;
    errno = 0;
    if (inet_aton(j->node, &addr))
      r = gethostbyaddr_r(&addr, sizeof addr, AF_INET, &j->he, buf, size, &hp, &herr);
    else
      r = gethostbyname_r(j->node, &j->he, buf, size, &hp, &herr);
    if (r == ERANGE && size < (1u << 20)) {
      size *= 2;
      continue;
    }
    break;
  }
  if (hp) {
    j->err = 0;
  } else {
    /* 3.1.0's order: h_errno, else errno, else "unknown error" */
    j->err = herr ? herr : -1;
    j->sys_errno = herr ? 0 : (r ? r : errno);
  }
}

static void do_gni(dns_job *j) {
  struct addrinfo *res = NULL, *a;
  j->err = getaddrinfo(j->node, j->serv, &j->hints, &res);
  if (j->err) {
    j->sys_errno = errno;
    return;
  }
  int n = 0;
  for (a = res; a; a = a->ai_next) n++;
  j->names = calloc(n ? (size_t)n : 1, NI_MAXHOST);
  if (j->names == NULL) {
    freeaddrinfo(res);
    j->err = EAI_MEMORY;
    return;
  }
  j->nnames = n;
  int i = 0;
  for (a = res; a; a = a->ai_next, i++) {
    char *h = j->names + (size_t)i * NI_MAXHOST;
    if (getnameinfo(a->ai_addr, a->ai_addrlen, h, j->node ? NI_MAXHOST : 0, j->servname,
                    j->serv ? sizeof j->servname : 0, 0) != 0) {
      h[0] = '\0';
    }
  }
  freeaddrinfo(res);
}

static void work_cb(uv_work_t *req) {
  dns_job *j = (dns_job *)req;
  switch (j->kind) {
    case JOB_GETHOST: do_gethost(j); break;
    case JOB_GAI:
      j->err = getaddrinfo(j->node, j->serv, &j->hints, &j->res);
      j->sys_errno = errno;
      break;
    case JOB_GNI: do_gni(j); break;
  }
}

/* ----------------------------------------------------------- loop side */

static void job_free(dns_job *j) {
  if (j->res) freeaddrinfo(j->res);
  free(j->hbuf);
  free(j->names);
  free(j);
}

static void after_cb(uv_work_t *req, int status) {
  dns_job *j = (dns_job *)req;
  if (status == UV_ECANCELED && j->err == 0 && j->kind != JOB_GETHOST) j->err = EAI_AGAIN;
  j->done = 1;
  if (j->abandoned) {
    job_free(j);
    return;
  }
  lua_pushnil(gl_H.L);
  gl_wake_one(gl_H.L, &j->waiter);
}

static void abandon(dns_job *j) {
  if (j->done) {
    job_free(j);
    return;
  }
  j->abandoned = 1;
  uv_cancel((uv_req_t *)&j->req);
}

static dns_job *take(lua_State *L, int idx) {
  dns_guard *g = luaL_testudata(L, idx, GUARD_MT);
  dns_job *j = g ? g->j : NULL;
  if (g) g->j = NULL;
  return j;
}

static int guard_gc(lua_State *L) {
  dns_job *j = take(L, 1);
  if (j) abandon(j);
  return 0;
}

/* Interrupted: the stack is ... guard tag value, or, handed the answer and
** then interrupted, ... guard err GL_WOKEN value (hub.c's block_k puts the
** error under the tag). */
static void job_cancel(lua_State *L) {
  int below = lua_touserdata(L, -2) == GL_WOKEN ? 1 : 0;
  dns_job *j = take(L, -3 - below);
  if (j) abandon(j);
}

static dns_guard *push_guard(lua_State *L) {
  dns_guard *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->j = NULL;
  if (luaL_newmetatable(L, GUARD_MT)) {
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "dns request");
    lua_setfield(L, -2, "__name");
  }
  lua_setmetatable(L, -2);
  return g;
}

/* Push a guard owning a new job for 'node'/'serv' (either may be NULL), not
** started: marked done, so a guard collected before the start frees it. */
static dns_job *job_new(lua_State *L, int kind, const char *node, const char *serv) {
  dns_guard *g = push_guard(L);
  size_t ln = node ? strlen(node) + 1 : 0, ls = serv ? strlen(serv) + 1 : 0;
  dns_job *j = calloc(1, sizeof *j + ln + ls);
  if (j == NULL) luaL_error(L, "not enough memory");
  j->kind = kind;
  j->done = 1;
  if (node) j->node = memcpy(j->strings, node, ln);
  if (serv) j->serv = memcpy(j->strings + ln, serv, ls);
  g->j = j;
  return j;
}

/* Start the job whose guard is on top on the pool and block; k finds
** [guard, tag, value] on top. */
static int job_run(lua_State *L, const char *what, dns_job *j, lua_KFunction k) {
  int err = uv_queue_work(gl_H.loop, &j->req, work_cb, after_cb);
  if (err) return luaL_error(L, "%s: %s", what, uv_strerror(err));  /* the guard frees j */
  j->done = 0;
  return gl_block_cancel(L, what, &j->waiter, -1, k, job_cancel);
}

/* In a continuation: pop [guard, tag, value] and return the finished job
** (NULL only if its guard was emptied by hand, through the debug library). */
static dns_job *job_result(lua_State *L) {
  dns_job *j = take(L, -3);
  lua_pop(L, 3);
  return j;
}

/* ---------------------------------------------------- the shared resolve */

static int dns_getaddrinfo(lua_State *L, const char *what, const char *node, const char *serv,
                           const struct addrinfo *hints, lua_KFunction k) {
  struct addrinfo h = *hints;
  int numeric = node == NULL || (hints->ai_flags & AI_NUMERICHOST);
  if (!numeric) gl_check_block(L, what);
  dns_job *j = job_new(L, JOB_GAI, node, serv);
  j->hints = *hints;
  /* a numeric host needs no resolver: answer without a switch */
  h.ai_flags |= AI_NUMERICHOST;
  j->err = getaddrinfo(node, serv, &h, &j->res);
  j->sys_errno = errno;
  if (j->err == EAI_NONAME && !numeric) return job_run(L, what, j, k);
  lua_pushnil(L);
  lua_pushnil(L);
  return k(L, LUA_YIELD, 0);
}

static struct addrinfo *dns_addrinfo(lua_State *L, int *err) {
  dns_job *j = job_result(L);
  if (j == NULL) {
    *err = EAI_AGAIN;
    return NULL;
  }
  struct addrinfo *res = j->res;
  *err = j->err;
  if (*err == EAI_SYSTEM) errno = j->sys_errno;
  j->res = NULL;
  job_free(j);
  if (*err) {
    if (res) freeaddrinfo(res);
    return NULL;
  }
  return res;
}

/* ------------------------------------------------- toip, tohostname */

static void push_resolved(lua_State *L, const struct hostent *hp) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, hp->h_name);
  lua_setfield(L, -2, "name");
  lua_newtable(L);
  for (int i = 0; hp->h_aliases && hp->h_aliases[i]; i++) {
    lua_pushstring(L, hp->h_aliases[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "alias");
  lua_newtable(L);
  char buf[INET_ADDRSTRLEN];
  for (int i = 0; hp->h_addr_list && hp->h_addr_list[i]; i++) {
    lua_pushstring(L, inet_ntop(AF_INET, hp->h_addr_list[i], buf, sizeof buf));
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "ip");
}

static const char *host_strerror(const dns_job *j) {
  if (j->err == HOST_NOT_FOUND) return "host not found";
  if (j->err > 0) return hstrerror(j->err);
  if (j->sys_errno > 0) return hstrerror(j->sys_errno);
  return "unknown error";
}

/* Frame: 1 address, 2 toip (1) or tohostname (0), then [guard, tag, value]. */
static int gethost_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  dns_job *j = job_result(L);
  int toip = (int)lua_tointeger(L, 2);
  if (j == NULL || j->err || j->he.h_name == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, j ? host_strerror(j) : "unknown error");
    if (j) job_free(j);
    return 2;
  }
  const struct hostent *hp = &j->he;
  char buf[INET_ADDRSTRLEN];
  if (toip) {
    if (hp->h_addr_list == NULL || hp->h_addr_list[0] == NULL) {
      job_free(j);
      lua_pushnil(L);
      lua_pushliteral(L, "host not found");
      return 2;
    }
    lua_pushstring(L, inet_ntop(AF_INET, hp->h_addr_list[0], buf, sizeof buf));
  } else {
    lua_pushstring(L, hp->h_name);
  }
  push_resolved(L, hp);
  job_free(j);
  return 2;
}

static int gethost(lua_State *L, const char *what, int toip) {
  const char *address = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_pushinteger(L, toip);
  gl_check_block(L, what);
  dns_job *j = job_new(L, JOB_GETHOST, address, NULL);
  return job_run(L, what, j, gethost_k);
}

static int l_toip(lua_State *L) { return gethost(L, "socket.dns.toip", 1); }
static int l_tohostname(lua_State *L) { return gethost(L, "socket.dns.tohostname", 0); }

/* ------------------------------------------------------- getaddrinfo */

static int getaddrinfo_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  int err;
  struct addrinfo *res = dns_addrinfo(L, &err);
  if (res == NULL) {
    return gl_ls_fail(L, gl_ls_gaistrerror(err));
  }
  lua_newtable(L);
  int i = 1;
  for (struct addrinfo *a = res; a; a = a->ai_next, i++) {
    char hbuf[NI_MAXHOST];
    int r = getnameinfo(a->ai_addr, a->ai_addrlen, hbuf, sizeof hbuf, NULL, 0, NI_NUMERICHOST);
    if (r) {
      freeaddrinfo(res);
      return gl_ls_fail(L, gl_ls_gaistrerror(r));
    }
    lua_createtable(L, 0, 2);
    switch (a->ai_family) {
      case AF_INET: lua_pushliteral(L, "inet"); break;
      case AF_INET6: lua_pushliteral(L, "inet6"); break;
      case AF_UNSPEC: lua_pushliteral(L, "unspec"); break;
      default: lua_pushliteral(L, "unknown"); break;
    }
    lua_setfield(L, -2, "family");
    lua_pushstring(L, hbuf);
    lua_setfield(L, -2, "addr");
    lua_rawseti(L, -2, i);
  }
  freeaddrinfo(res);
  return 1;
}

static int l_getaddrinfo(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  return dns_getaddrinfo(L, "socket.dns.getaddrinfo", host, NULL, &hints, getaddrinfo_k);
}

/* ------------------------------------------------------- getnameinfo */

/* Frame: 1 host, 2 serv, then [guard, tag, value]. */
static int getnameinfo_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  dns_job *j = job_result(L);
  if (j == NULL || j->err) {
    if (j && j->err == EAI_SYSTEM) errno = j->sys_errno;
    lua_pushnil(L);
    lua_pushstring(L, gl_ls_gaistrerror(j ? j->err : EAI_AGAIN));
    if (j) job_free(j);
    return 2;
  }
  lua_newtable(L);
  if (j->node) {
    for (int i = 0; i < j->nnames; i++) {
      lua_pushstring(L, j->names + (size_t)i * NI_MAXHOST);
      lua_rawseti(L, -2, i + 1);
    }
  }
  int n = 1;
  if (j->serv) {
    lua_pushstring(L, j->servname);
    n = 2;
  }
  job_free(j);
  return n;
}

static int l_getnameinfo(lua_State *L) {
  const char *host = luaL_optstring(L, 1, NULL);
  const char *serv = luaL_optstring(L, 2, NULL);
  if (!(host || serv)) luaL_error(L, "host and serv cannot be both nil");
  lua_settop(L, 2);
  gl_check_block(L, "socket.dns.getnameinfo");
  dns_job *j = job_new(L, JOB_GNI, host, serv);
  j->hints.ai_socktype = SOCK_STREAM;
  j->hints.ai_family = AF_UNSPEC;
  return job_run(L, "socket.dns.getnameinfo", j, getnameinfo_k);
}

/* -------------------------------------------------------- gethostname */

static int l_gethostname(lua_State *L) {
  char name[257];
  name[256] = '\0';
  if (gethostname(name, 256) < 0) {
    return gl_ls_fail(L, gl_ls_strerror(errno));
  }
  lua_pushstring(L, name);
  return 1;
}

static const luaL_Reg dns_funcs[] = {
  {"toip", l_toip},
  {"getaddrinfo", l_getaddrinfo},
  {"tohostname", l_tohostname},
  {"getnameinfo", l_getnameinfo},
  {"gethostname", l_gethostname},
  {NULL, NULL}
};

void gl_ls_open_dns(lua_State *L) {
  luaL_newlib(L, dns_funcs);
  lua_setfield(L, -2, "dns");
}
