/*
** thread.c: a green thread's life once it exists: its run-time state (from
** a free list), its handle and the thread table that anchors both, giving
** it a coroutine (pooled ones first) with its body and arguments, and,
** once the function returned or raised, keeping the results, waking
** joiners, running the exit hook and links, and recycling the coroutine
** and the state. Making threads and starting them in their turn is
** spawn.c's; thread.h says where the hub allocates.
**
** Memory, per thread: a handle is 120 bytes for as long as someone keeps
** it; the run-time state (gl_thread) exists only while the thread can run
** and is reused; a spawn_n thread has no handle unless one is asked for; a
** pending spawn or spawn_n is a 16-byte slot.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/thread.h"
#include "core/report.h"

#define H gl_H

/* Run-time states kept for reuse: those of threads that just ended are
** still in cache. */
#define SPARE_MAX 1024

/* ------------------------------------------------------ run-time states */

/* A zeroed run-time state, or NULL (out of memory). Every state in use is
** on H.states, so that gl_hub_close can free what threads still alive at
** the end hold. */
gl_thread *gl_new_state(void) {
  gl_thread *t = H.spare;
  if (t != NULL) {
    H.spare = t->next;
    H.nspare--;
  } else if ((t = malloc(sizeof *t)) == NULL) {
    return NULL;
  }
  memset(t, 0, sizeof *t);
  gl_timer_init(&t->timer, gl_on_deadline);
  t->all_next = H.states;
  if (H.states) H.states->all_prev = t;
  H.states = t;
  return t;
}

void gl_free_state(gl_thread *t) {
  if (t->all_prev) t->all_prev->all_next = t->all_next;
  else H.states = t->all_next;
  if (t->all_next) t->all_next->all_prev = t->all_prev;
  if (H.nspare < SPARE_MAX) {
    t->next = H.spare;
    H.spare = t;
    H.nspare++;
  } else {
    free(t);
  }
}

void gl_free_states(void) {
  while (H.states) {
    gl_thread *t = H.states;
    H.states = t->all_next;
    free(t);
  }
  while (H.spare) {
    gl_thread *t = H.spare;
    H.spare = t->next;
    free(t);
  }
  H.nspare = 0;
}

/* ------------------------------------------------------------- anchoring */

/* Anchor the value at 'idx' in a free slot of the thread table: the most
** recently freed one, whose part of the table is still in cache, or a new
** one at the end. Returns the slot. If it raises (out of memory) nothing
** else changed. */
static unsigned anchor(lua_State *L, int idx) {
  unsigned slot;
  if (H.nholes > 0) {
    slot = H.holes[H.nholes - 1];
  } else {
    if (H.nslots == H.holes_cap) {  /* every slot may become a hole */
      size_t cap = H.holes_cap ? H.holes_cap * 2 : 1024;
      unsigned *holes = realloc(H.holes, cap * sizeof *holes);
      if (holes == NULL) luaL_error(L, "spawn: not enough memory");
      H.holes = holes;
      H.holes_cap = cap;
    }
    slot = H.nslots + 1;
  }
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, slot);                /* may grow the table: raise here */
  lua_settop(L, -2);
  if (H.nholes > 0) H.nholes--;
  else H.nslots++;
  return slot;
}

static void unanchor(lua_State *L, unsigned slot) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_pushnil(L);
  lua_rawseti(L, -2, slot);
  lua_settop(L, -2);
  H.holes[H.nholes++] = slot;
}

/* Replace what t's slot holds with the value on top of L (popped). */
static void reanchor(lua_State *L, gl_thread *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_insert(L, -2);
  lua_rawseti(L, -2, t->anchor);
  lua_pop(L, 1);
}

static void push_slot(lua_State *L, gl_thread *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_rawgeti(L, -1, t->anchor);
  lua_replace(L, -2);
}

/* The thread is gone for good: its slot, its handle's link to it, and
** (but for main's, which the host reads at the end) its run-time state. */
void gl_release(lua_State *L, gl_thread *t) {
  if (t->anchor) unanchor(L, t->anchor);
  t->anchor = 0;
  if (t->h) t->h->t = NULL;
  t->h = NULL;
  if (!(t->flags & GL_MAIN)) gl_free_state(t);
}

/* ------------------------------------------------------------- handles */

gl_handle *gl_test_handle(lua_State *L, int idx) {
  return gl_udata_meta(L, idx) == H.thread_mt ? lua_touserdata(L, idx) : NULL;
}

gl_thread *gl_thread_of(lua_State *L, int idx) {
  gl_handle *h = gl_test_handle(L, idx);
  return h ? h->t : NULL;
}

/* Push a new handle with 'nuv' uservalues. */
gl_handle *gl_new_handle(lua_State *L, int nuv, lua_Integer id, unsigned flags) {
  gl_handle *h = lua_newuserdatauv(L, sizeof *h, nuv);
  h->t = NULL;
  h->id = id;
  h->nresults = 0;
  h->flags = (unsigned short)flags;
  h->nargs = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.thread_mt_ref);
  lua_setmetatable(L, -2);
  return h;
}

/* Give the handle at 'idx', which has none, its run-time state, anchored
** by the handle. Raises (out of memory) having changed nothing. */
gl_thread *gl_materialize_at(lua_State *L, int idx) {
  gl_handle *h = lua_touserdata(L, idx);
  unsigned slot = anchor(L, idx);
  gl_thread *t = gl_new_state();
  if (t == NULL) {
    unanchor(L, slot);
    luaL_error(L, "not enough memory");
  }
  t->anchor = slot;
  t->h = h;
  t->id = h->id;
  t->flags = h->flags & GL_MAIN;
  h->t = t;
  return t;
}

gl_thread *gl_materialize(lua_State *L, int idx) {
  gl_handle *h = lua_touserdata(L, idx);
  if (h->flags & GL_DEAD) return NULL;
  return h->t ? h->t : gl_materialize_at(L, lua_absindex(L, idx));
}

void gl_push_thread(lua_State *L, gl_thread *t) {
  if (t->h) {
    push_slot(L, t);
    return;
  }
  /* a spawn_n thread: its handle now. The slot held its coroutine, which
  ** the handle's body slot anchors from now on, as for a spawned thread. */
  gl_handle *h = gl_new_handle(L, GL_UV_ARGS - 1, t->id, GL_STARTED | (t->flags & GL_MAIN));
  if (!(t->flags & GL_POOLED)) {
    push_slot(L, t);
    lua_setiuservalue(L, -2, GL_UV_BODY);
  }
  h->t = t;
  t->h = h;
  lua_pushvalue(L, -1);
  reanchor(L, t);
}

/* The extra table of the handle at 'idx', made on demand. */
void gl_push_extra(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_getiuservalue(L, idx, GL_UV_EXTRA) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, GL_UV_EXTRA);
    ((gl_handle *)lua_touserdata(L, idx))->flags |= GL_EXTRA;
  }
}

/* ------------------------------------------------------ running threads */

/* Give 't' a coroutine with its body and arguments pushed; the body is its
** function, the error it was killed with, or the link runner. For a thread
** with no handle (a spawn_n) the body is on top of L (popped). Returns the
** number of arguments. A pooled coroutine is anchored by the pool table for
** good, so taking and returning one costs no Lua calls; another is anchored
** by the handle's body slot (the function has been pushed by then), by the
** extra table for a link runner (the body slot holds the results), or by
** the thread's slot when there is no handle. */
int gl_prepare(lua_State *L, gl_thread *t, int *udp) {
  gl_handle *h = t->h;
  int ud = 0, n;
  if (h) {
    push_slot(L, t);
    ud = lua_gettop(L);
    if (t->flags & GL_LINKING) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, H.link_runner_ref);
      lua_pushvalue(L, ud);
      n = 1;
    } else if (h->flags & GL_KILLED) {
      lua_pushcfunction(L, lua_error);
      lua_getiuservalue(L, ud, GL_UV_BODY);  /* the error, in place of the function */
      n = 1;
    } else {
      lua_getiuservalue(L, ud, GL_UV_BODY);
      for (int i = 1; i <= h->nargs; i++) lua_getiuservalue(L, ud, GL_UV_ARGS - 1 + i);
      n = (h->flags & GL_PACKED) ? -1 : h->nargs;
    }
  } else {
    n = (t->flags & GL_PACKED) ? -1 : 0;
  }
  lua_State *co;
  if (H.nfree > 0) {
    H.nfree--;
    co = H.free[H.nfree].co;
    t->pool_slot = H.free[H.nfree].slot;
    t->flags |= GL_POOLED;
    t->co = co;
    gl_set_owner(co, t);
    if (!h) {                              /* the slot holds the coroutine */
      lua_pushthread(co);
      lua_xmove(co, L, 1);
      t->anchor = anchor(L, -1);
      lua_pop(L, 1);
    }
  } else {
    co = lua_newthread(L);
    if (!h) {
      t->anchor = anchor(L, -1);
      lua_pop(L, 1);
    } else if (t->flags & GL_LINKING) {
      lua_getiuservalue(L, ud, GL_UV_EXTRA);
      lua_insert(L, -2);
      lua_setfield(L, -2, "co");
      lua_pop(L, 1);
    } else {
      lua_setiuservalue(L, ud, GL_UV_BODY);
    }
    t->co = co;                            /* from here on, fail_thread recycles it */
    gl_set_owner(co, t);
  }
  if (n >= 0) {
    lua_xmove(L, co, n + 1);
  } else {
    /* {fn, args..., n}: unpacked straight onto the coroutine, so the hub's
    ** stack need not hold them (MAX_ARGS leaves a coroutine room for all) */
    lua_getfield(L, -1, "n");
    n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!lua_checkstack(co, n + 2)) luaL_error(L, "spawn: too many arguments (%d)", n);
    lua_xmove(L, co, 1);
    for (int i = 1; i <= n + 1; i++) lua_rawgeti(co, 1, i);
    lua_remove(co, 1);
  }
  *udp = ud;                               /* the handle stays, for gl_finish */
  t->flags |= GL_STARTED;
  if (h) h->flags |= GL_STARTED;
  return n;
}

/* Give the coroutine of a finished thread back: to the free list if
** pooled, else into the pool if there is room, else drop it (what anchored
** it lets go next). Its hook goes, and one whose identity escaped is
** dropped, pooled or not. Allocates nothing: the pool table was sized for
** GL_POOL_MAX at the start. */
static void recycle(lua_State *L, gl_thread *t) {
  lua_State *co = t->co;
  assert(co != NULL && gl_owner(co) == t && lua_status(co) != LUA_YIELD);
  lua_settop(co, 0);
  lua_sethook(co, NULL, 0, 0);
  gl_set_owner(co, NULL);
  t->co = NULL;
  int pooled = (t->flags & GL_POOLED) != 0, escaped = (t->flags & GL_ESCAPED) != 0;
  t->flags &= ~(GL_POOLED | GL_ESCAPED);  /* a link runner gets a coroutine of its own */
  if (escaped) {
    if (pooled) {                           /* out of the pool for good */
      lua_rawgeti(L, LUA_REGISTRYINDEX, H.pool_ref);
      lua_pushnil(L);
      lua_rawseti(L, -2, t->pool_slot);
      lua_pop(L, 1);
      H.pool_holes[H.npool_holes++] = t->pool_slot;
    }
    return;
  }
  if (!pooled) {
    if (H.npool_holes == 0 && H.pool_top == GL_POOL_MAX) return;  /* the pool is full */
    t->pool_slot = H.npool_holes > 0 ? H.pool_holes[--H.npool_holes] : ++H.pool_top;
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.pool_ref);
    lua_pushthread(co);                     /* its stack is empty: there is room */
    lua_xmove(co, L, 1);
    lua_rawseti(L, -2, t->pool_slot);
    lua_pop(L, 1);
  }
  H.free[H.nfree].co = co;
  H.free[H.nfree++].slot = t->pool_slot;
}

/* Push what the thread's 'n' results are kept as: the value itself, or a
** table of them. */
static void pack_results(lua_State *L, gl_thread *t, int n) {
  if (n == 1) {
    lua_xmove(t->co, L, 1);
  } else {
    lua_createtable(L, n, 0);
    for (int i = n; i >= 1; i--) {
      lua_xmove(t->co, L, 1);
      lua_rawseti(L, -2, i);
    }
  }
}

int gl_thread_results(lua_State *L, int idx) {
  gl_handle *h = lua_touserdata(L, idx);
  if (h->nresults == 0) return 0;
  lua_getiuservalue(L, idx, GL_UV_BODY);
  if (h->nresults == 1 || (h->flags & GL_ERRORED)) return 1;
  luaL_checkstack(L, h->nresults, "too many results");
  int table = lua_gettop(L);
  for (int i = 1; i <= h->nresults; i++) lua_rawgeti(L, table, i);
  lua_remove(L, table);
  return h->nresults;
}

/* Does the thread (handle at 'ud') have links to run? */
int gl_has_links(lua_State *L, gl_handle *h, int ud) {
  int found = 0;
  if (!(h->flags & GL_EXTRA)) return 0;
  if (lua_getiuservalue(L, ud, GL_UV_EXTRA) == LUA_TTABLE) {
    lua_getfield(L, -1, "links");
    found = lua_istable(L, -1) && lua_rawlen(L, -1) > 0;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return found;
}

/* The Lua half's own bookkeeping hook (extra.on_exit, see on_exit in
** greenthread.c): called here, in the hub, with the handle; it must not
** block. Runs protected. */
void gl_call_on_exit(lua_State *L, gl_handle *h, int ud) {
  if (!(h->flags & GL_EXTRA)) return;
  lua_getiuservalue(L, ud, GL_UV_EXTRA);
  if (lua_getfield(L, -1, "on_exit") == LUA_TNIL) {
    lua_pop(L, 2);
    return;
  }
  lua_pushvalue(L, ud);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "exit hook of green thread %lld: ", (long long)h->id);
    gl_report_message(L, -1, prefix);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Green-local values and links die with the thread. */
void gl_drop_extra(lua_State *L, gl_handle *h, int ud) {
  if (!(h->flags & GL_EXTRA)) return;
  lua_pushnil(L);
  lua_setiuservalue(L, ud, GL_UV_EXTRA);
  h->flags &= ~GL_EXTRA;
}

/* The thread (handle at 'ud', or 0: none) is dead with its 'nres' results
** (or error) on top of L (popped): keep them, let joiners go, then run its
** links, if any, in its own coroutine before it lets go of its anchor.
** Allocates nothing (the exit hook runs protected), so a thread can always
** end. */
static void bury(lua_State *L, gl_thread *t, int ud, int nres, int errored) {
  assert(t->co == NULL && t->queue == NULL && !gl_timer_armed(&t->timer));
  gl_handle *h = t->h;
  unsigned dead = GL_DEAD | (errored ? GL_ERRORED : 0);
  t->flags |= dead;                        /* main's state is read at the end */
  if (h) {
    lua_setiuservalue(L, ud, GL_UV_BODY);  /* the results, in place of the coroutine */
    h->flags |= dead;
    h->nresults = nres;
  } else {
    lua_pop(L, 1);
  }
  H.live--;
  while (t->joiners.head) {
    lua_pushnil(L);
    gl_wake_one(L, &t->joiners);
  }
  assert(t->joiners.n == 0);
  if (!h) {
    gl_release(L, t);
    return;
  }
  gl_call_on_exit(L, h, ud);
  if (gl_has_links(L, h, ud)) {
    t->flags |= GL_LINKING;       /* runs again, first, with the link runner */
    t->flags &= ~GL_STARTED;
    gl_ready(t, 1);
  } else {
    gl_drop_extra(L, h, ud);
    gl_release(L, t);
  }
}

void gl_finish(lua_State *L, gl_thread *t, int status, int nres, int ud) {
  lua_State *co = t->co;
  if (ud == 0 && t->h) {
    push_slot(L, t);
    ud = lua_gettop(L);
  }
  if (t->flags & GL_LINKING) {
    if (status != LUA_OK) {
      lua_xmove(co, L, 1);
      gl_report(L, co, t);
      lua_pop(L, 1);
      lua_resetthread(co);
    }
    recycle(L, t);
    gl_drop_extra(L, t->h, ud);
    gl_release(L, t);
  } else {
    int errored = status != LUA_OK;
    if (!errored) {
      int keep = t->h && (t->h->flags & GL_HANDLE) && nres > 0;
      if (keep) pack_results(L, t, nres);  /* allocates: thread.h */
      else lua_pushnil(L);
      if (!keep) nres = 0;
    } else {
      /* keep a copy on co: lua_resetthread puts back what is on top */
      int copied = lua_checkstack(co, 1);
      if (copied) lua_pushvalue(co, -1);
      lua_xmove(co, L, 1);
      if (!gl_is_exit(L, -1)) gl_report(L, co, t);
      /* An error does not unwind a coroutine: close its pending to-be-closed
      ** variables now. If one raised, that error is the thread's result. */
      if (lua_resetthread(co) != LUA_OK && copied) {
        lua_pop(L, 1);
        lua_xmove(co, L, 1);
      }
      nres = 1;
    }
    recycle(L, t);
    bury(L, t, ud, nres, errored);
  }
  if (ud) lua_settop(L, ud - 1);
}

void gl_fail_thread(lua_State *L, gl_thread *t) {
  /* its coroutine may be anchored by nothing yet: into the pool with it
  ** before anything here can allocate (and collect) */
  if (t->co) recycle(L, t);
  gl_report(L, NULL, t);
  int ud = 0;
  if (t->h) {
    push_slot(L, t);
    lua_insert(L, -2);                     /* ud err */
    ud = lua_gettop(L) - 1;
  }
  if (t->flags & GL_LINKING) {
    lua_pop(L, 1);
    gl_drop_extra(L, t->h, ud);
    gl_release(L, t);
  } else {
    gl_unqueue(t);
    gl_timer_stop(&t->timer);
    t->flags |= GL_STARTED;
    if (t->h) t->h->flags |= GL_STARTED;
    bury(L, t, ud, 1, 1);
  }
  if (ud) lua_settop(L, ud - 1);
}
