/*
** coro.c: the coroutine library as green threads need it. See coro.h.
**
** A green thread's own coroutine is the hub's: it is resumed only by the
** hub, and to the code running in it, it looks like a main chunk (it cannot
** yield, coroutine.running() says it is the main one). A script's own
** coroutines work as in plain Lua, except that a block in one of them (a
** sleep, a socket read) passes through to the hub: the coroutine yields
** GL_PASS, each resume on the way out yields GL_PASS in turn, and what the
** hub resumes the green thread with comes back the same way in. Errors the
** hub injects on the way in (kill, an expired Timeout, Ctrl-C) are not
** results of that resume: they unwind the green thread.
*/
#include <lauxlib.h>
#include "core/hub.h"
#include "core/coro.h"
#include "core/watchdog.h"

#define H gl_H

/* Bits of the continuation context of a relayed resume. */
enum {
  MODE_WRAP = 1,   /* coroutine.wrap's function: results or raise */
  INJECTED = 2     /* the hub's error sits at stack index 2 */
};

static lua_State *check_co(lua_State *L, int idx) {
  lua_State *co = lua_tothread(L, idx);
  if (co == NULL) luaL_typeerror(L, idx, lua_typename(L, LUA_TTHREAD));
  return co;
}

/* A coroutine some green thread holds: its body, or blocked in the hub. */
static void check_not_owned(lua_State *L, lua_State *co, const char *what) {
  if (co != L && gl_owner(co) != NULL)
    luaL_error(L, "cannot %s a green thread's coroutine (the hub schedules it)", what);
}

/* ---------------------------------------------------------------- resume */

/* The resume failed with the error on top of L: false and the error, or
** for wrap, raise it (the coroutine closed if it died), a string error with
** the caller's position, as plain wrap does. */
static int fail(lua_State *L, lua_State *co, int status, lua_KContext ctx) {
  if (!(ctx & MODE_WRAP)) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  if (lua_status(co) != LUA_OK && lua_status(co) != LUA_YIELD &&
      (status = lua_resetthread(co)) != LUA_OK)
    lua_xmove(co, L, 1);                    /* a __close may have replaced it */
  if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* lua_resume returned 'status' with 'nres' results (or the error) on top
** of 'co': leave them on L as the mode says. */
static int finish(lua_State *L, lua_State *co, int status, int nres, lua_KContext ctx) {
  if (status == LUA_OK || status == LUA_YIELD) {
    int wrap = (ctx & MODE_WRAP) != 0;
    if (lua_checkstack(L, nres + 1)) {
      if (!wrap) lua_pushboolean(L, 1);
      lua_xmove(co, L, nres);
      return nres + !wrap;
    }
    lua_pop(co, nres);
    lua_pushliteral(L, "too many results to resume");
    return fail(L, co, LUA_ERRRUN, ctx);
  }
  lua_xmove(co, L, 1);
  if ((ctx & INJECTED) && lua_rawequal(L, -1, 2)) {
    /* a kill or timeout meant for the green thread: close the coroutine it
    ** went through and go on unwinding out here */
    lua_resetthread(co);
    lua_settop(co, 0);                      /* dead, as coroutine.close leaves it */
    lua_pushvalue(L, 2);
    return lua_error(L);
  }
  return fail(L, co, status, ctx);
}

static int relay_k(lua_State *L, int status, lua_KContext ctx);

/* Resume the coroutine at index 1 with the 'narg' values on top of L
** (above the injected error at 2 with INJECTED). A block inside it is
** passed out to the hub, and the hub's answer relayed back in (relay_k). */
static int relay(lua_State *L, int narg, lua_KContext ctx) {
  lua_State *co = lua_tothread(L, 1);
  for (;;) {
    int nres, status;
    if (lua_status(co) == LUA_OK && lua_gettop(co) == 0) {
      lua_pop(L, narg);
      lua_pushliteral(L, "cannot resume dead coroutine");
      return fail(L, co, LUA_ERRRUN, ctx);
    }
    if (!lua_checkstack(co, narg)) {
      lua_pop(L, narg);
      lua_pushliteral(L, "too many arguments to resume");
      return fail(L, co, LUA_ERRRUN, ctx);
    }
    lua_xmove(L, co, narg);
    /* the watchdog hooks the innermost running state: note it for as long
    ** as co runs (lua_resume never unwinds past here, so it is restored) */
    lua_State *outer = gl_inner_co;
    __atomic_store_n(&gl_inner_co, co, __ATOMIC_RELAXED);
    status = lua_resume(co, L, narg, &nres);
    __atomic_store_n(&gl_inner_co, outer, __ATOMIC_RELAXED);
    if (status != LUA_YIELD || nres == 0 || lua_touserdata(co, -nres) != GL_PASS)
      return finish(L, co, status, nres, ctx);
    gl_thread *t = H.current;
    if (t != NULL && lua_isyieldable(L) && lua_checkstack(L, nres)) {
      lua_xmove(co, L, nres);               /* GL_PASS and what came with it */
      if (ctx & INJECTED) lua_remove(L, 2);
      if (L != t->co) gl_set_owner(L, t);   /* blocked in the hub too */
      return lua_yieldk(L, nres, ctx & ~INJECTED, relay_k);
    }
    /* The block cannot reach the hub from here: undo it, and raise inside
    ** the coroutine, where it blocked. */
    lua_pop(co, nres);
    lua_pushlightuserdata(L, (void *)GL_THROW);
    gl_cannot_block(L);
    narg = 2;
  }
}

/* The hub resumed the green thread: the tag and values on top of L go
** back into the coroutine that blocked. */
static int relay_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int top = lua_gettop(L);
  if (H.current && L != H.current->co) gl_set_owner(L, NULL);
  if (top >= 3) {
    const void *tag = lua_touserdata(L, 2);
    int err = tag == GL_THROW ? 3 : tag == GL_LATE ? 4 : 0;
    if (err && err <= top) {
      lua_pushvalue(L, err);
      lua_insert(L, 2);
      ctx |= INJECTED;
    }
  }
  return relay(L, lua_gettop(L) - ((ctx & INJECTED) ? 2 : 1), ctx);
}

/* coroutine.resume(co, ...) */
static int l_resume(lua_State *L) {
  lua_State *co = check_co(L, 1);
  check_not_owned(L, co, "resume");
  return relay(L, lua_gettop(L) - 1, 0);
}

/* The function coroutine.wrap returns; upvalue 1: its coroutine. */
static int l_wrapped(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  check_not_owned(L, co, "resume");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  return relay(L, lua_gettop(L) - 1, MODE_WRAP);
}

/* coroutine.wrap(fn) */
static int l_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, l_wrapped, 1);
  return 1;
}

/* ---------------------------------------------------- the rest of them */

/* coroutine.yield(...): in a green thread's own coroutine there is no
** coroutine to yield to, as in a main chunk. */
static int l_yield(lua_State *L) {
  if (gl_owner(L) != NULL) {  /* the same error as lua_yield's in a main state */
    lua_pushliteral(L, "attempt to yield from outside a coroutine");
    return lua_error(L);
  }
  return lua_yield(L, lua_gettop(L));
}

/* coroutine.isyieldable([co]) */
static int l_isyieldable(lua_State *L) {
  lua_State *co = lua_isnone(L, 1) ? L : check_co(L, 1);
  lua_pushboolean(L, lua_isyieldable(co) && gl_owner(co) == NULL);
  return 1;
}

/* coroutine.running(): a green thread's coroutine is its main one. Its
** identity escapes here (a table may key on it), so it is not handed to
** another thread later. */
static int l_running(lua_State *L) {
  gl_thread *t = gl_owner(L);
  int ismain = lua_pushthread(L);
  if (t != NULL && t->co == L) {
    t->flags |= GL_ESCAPED;
    ismain = 1;
  }
  lua_pushboolean(L, ismain);
  return 2;
}

/* coroutine.close(co); upvalue 1: Lua's own. */
static int l_close(lua_State *L) {
  lua_State *co = check_co(L, 1);
  check_not_owned(L, co, "close");
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, LUA_MULTRET);
  return lua_gettop(L);
}

void gl_open_coroutines(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"resume", l_resume}, {"wrap", l_wrap}, {"yield", l_yield},
    {"isyieldable", l_isyieldable}, {"running", l_running}, {NULL, NULL}
  };
  lua_getglobal(L, "coroutine");
  luaL_setfuncs(L, functions, 0);
  lua_getfield(L, -1, "close");
  lua_pushcclosure(L, l_close, 1);
  lua_setfield(L, -2, "close");
  lua_pop(L, 1);
}
