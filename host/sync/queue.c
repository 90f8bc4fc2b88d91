/*
** queue.c: green queues. The items live in a Lua table (uservalue 1): a
** ring for FIFO, an array for LIFO, a binary heap for priority. The items of
** putters waiting on a full queue live in a second table (uservalue 2),
** keyed by their thread, where a channel's getter takes them.
**
** A get that makes room in a bounded queue grants the slot to the longest
** waiting putter, which stores its own item when it runs (as eventlet's
** putters do): a putter interrupted before it ran passes the slot on and
** its put raises with its item not queued, so a put that raised never
** delivered. Only a channel's getter takes an item from a putter itself.
** The store itself (ring, array, heap) is queue_store.c.
*/
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/args.h"
#include "sync/queue.h"
#include "sync/queue_store.h"

#define QUEUE_MT "green.Queue"
#define LIGHT_MT "green.LightQueue"

static const char QUEUE_TAG[] = "green.Queue";

static int full_ref = LUA_NOREF, empty_ref = LUA_NOREF;

static gl_queue *check_queue(lua_State *L, const char *fname) {
  gl_queue *q = gl_sync_test(L, 1, QUEUE_TAG, sizeof *q);
  if (q == NULL) gl_sync_typeerror(L, 1, fname, "Queue");
  return q;
}

/* task_done and join: a Queue of any kind, not a LightQueue */
static gl_queue *check_tasks(lua_State *L, const char *fname) {
  gl_queue *q = gl_sync_test(L, 1, QUEUE_TAG, sizeof *q);
  if (q == NULL || q->light) gl_sync_typeerror(L, 1, fname, "Queue");
  return q;
}

static int raise_ref(lua_State *L, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  return lua_error(L);
}

/* Can a put store now? Granted slots count as taken. */
static int has_room(gl_queue *q) {
  return q->maxsize < 0 || q->n + q->reserved < q->maxsize;
}

/* --------------------------------------------------- waiting putters */

/* What a putter granted a slot is woken with. */
static const char GRANT[] = "slot granted";

/* Grant free slots to the longest waiting putters: each stores its item
** itself when it runs (put_k), or passes the slot on (put_cancel). */
static void grant_slots(lua_State *L, gl_queue *q) {
  gl_thread *putter;
  while ((putter = q->putters.head) != NULL && has_room(q)) {
    q->reserved++;
    lua_pushlightuserdata(L, (void *)GRANT);  /* a value: an interrupt passes it on */
    gl_wake(L, putter);
  }
}

/* A channel's getter takes the first waiting putter's item (pushed) and
** lets the putter go: its put is done. */
static void take_from_putter(lua_State *L, gl_queue *q) {
  gl_thread *putter = q->putters.head;
  lua_getiuservalue(L, 1, UV_PUTS);
  lua_rawgetp(L, -1, putter);
  lua_pushnil(L);
  lua_rawsetp(L, -3, putter);
  lua_remove(L, -2);
  lua_pushnil(L);
  gl_wake(L, putter);
  q->unfinished++;
}

/* ---------------------------------------------------------------- get */

/* Push an item if one can be had now. */
static int try_get(lua_State *L, gl_queue *q) {
  if (q->n > 0) {
    gl_qstore_take(L, q);
    if (q->putters.head) grant_slots(L, q);
    return 1;
  }
  if (q->putters.head && q->maxsize == 0) {  /* a channel (or resized to one) */
    take_from_putter(L, q);
    return 1;
  }
  return 0;
}

static int get_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_touserdata(L, -2) == GL_TIMEDOUT) return raise_ref(L, empty_ref);
  return 1;
}

/* Interrupted after it was handed an item: the item goes to the next
** getter, else back to the front of the queue. */
static void get_cancel(lua_State *L) {
  if (lua_touserdata(L, -2) != GL_WOKEN) return;
  gl_queue *q = lua_touserdata(L, 1);
  if (q->getters.head) {
    lua_pushvalue(L, -1);
    gl_wake(L, q->getters.head);
  } else {
    gl_qstore_give_back(L, q, -1);
  }
}

/* q:get([block [, timeout]]) */
static int l_get(lua_State *L) {
  gl_queue *q = check_queue(L, "get");
  int block = 1;
  double timeout = -1;
  if (lua_gettop(L) > 1) {
    block = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
    timeout = gl_sync_opttimeout(L, 3, "get");
  }
  if ((q->n > 0 || q->putters.head) && try_get(L, q)) return 1;
  if (!block) return raise_ref(L, empty_ref);
  /* get_k and get_cancel need only the queue at 1 and what is pushed */
  return gl_block_cancel(L, "Queue:get", &q->getters, timeout, get_k, get_cancel);
}

static int l_get_nowait(lua_State *L) {
  gl_queue *q = check_queue(L, "get_nowait");
  if (try_get(L, q)) return 1;
  return raise_ref(L, empty_ref);
}

/* ---------------------------------------------------------------- put */

static int sent_k(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0;
}

/* A channel's put (or put_nowait) meets a waiting getter: hand the item
** over, then let the getter run before the put returns, as eventlet's put
** switches to the getter. Where the caller cannot yield, only hand it over. */
static int channel_send(lua_State *L, gl_queue *q, const char *what) {
  gl_thread *t = NULL;
  if (gl_H.current && lua_isyieldable(L))
    t = gl_check_block(L, what);  /* a Timeout due raises now, before the hand-over */
  gl_thread *getter = q->getters.head;
  lua_pushvalue(L, 2);
  gl_wake(L, getter);
  q->unfinished++;
  if (t == NULL) return 0;
  return gl_yield_behind(L, t, getter, sent_k);
}

/* Hand the value at 2 to the first waiting getter, else store it. */
static void deliver(lua_State *L, gl_queue *q) {
  if (q->getters.head) {
    if (lua_gettop(L) != 2) lua_pushvalue(L, 2);  /* else it is on top: moved */
    gl_wake(L, q->getters.head);
  } else {
    gl_qstore_put(L, q, 2, 0);
  }
  q->unfinished++;
}

/* Queue the value at 2 if that can be done now. */
static int try_put(lua_State *L, gl_queue *q) {
  if (!q->getters.head && !has_room(q)) return 0;
  deliver(L, q);
  return 1;
}

static void forget_item(lua_State *L) {
  lua_getiuservalue(L, 1, UV_PUTS);
  lua_pushnil(L);
  lua_rawsetp(L, -2, gl_H.current);
  lua_pop(L, 1);
}

/* Resumed: timed out, granted a slot (store the item at 2 now), or done
** (a channel's getter took the item). */
static int put_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_touserdata(L, -2) == GL_TIMEDOUT) {
    forget_item(L);
    return raise_ref(L, full_ref);
  }
  if (lua_touserdata(L, -1) == GRANT) {
    gl_queue *q = lua_touserdata(L, 1);
    q->reserved--;
    forget_item(L);
    deliver(L, q);   /* may raise (less): then the item is not queued */
    grant_slots(L, q);   /* handed to a getter, the slot is still free */
  }
  return 0;
}

/* Interrupted while waiting, or after it was granted a slot but before it
** ran: the item was never queued; a granted slot goes to the next putter.
** (Interrupted after a channel's getter took the item, it raises all the
** same: the item was delivered.) */
static void put_cancel(lua_State *L) {
  if (lua_touserdata(L, -2) == GL_THROW) {
    forget_item(L);
  } else if (lua_touserdata(L, -1) == GRANT) {
    gl_queue *q = lua_touserdata(L, 1);
    q->reserved--;
    forget_item(L);
    grant_slots(L, q);
  }
}

static void check_item(lua_State *L, const char *fname) {
  if (lua_isnoneornil(L, 2)) gl_sync_argerror(L, 2, fname, "nil cannot be queued");
}

/* q:put(item [, block [, timeout]]) */
static int l_put(lua_State *L) {
  gl_queue *q = check_queue(L, "put");
  check_item(L, "put");
  int block = 1;
  double timeout = -1;
  if (lua_gettop(L) > 2) {
    block = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
    timeout = gl_sync_opttimeout(L, 4, "put");
  }
  if (q->maxsize == 0 && q->getters.head) return channel_send(L, q, "Queue:put");
  if (try_put(L, q)) return 0;
  if (!block) return raise_ref(L, full_ref);
  gl_thread *t = gl_check_block(L, "Queue:put");
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, UV_PUTS);   /* the item waits here for a getter */
  lua_pushvalue(L, 2);
  lua_rawsetp(L, -2, t);
  lua_settop(L, 2);
  return gl_block_cancel(L, "Queue:put", &q->putters, timeout, put_k, put_cancel);
}

static int l_put_nowait(lua_State *L) {
  gl_queue *q = check_queue(L, "put_nowait");
  check_item(L, "put_nowait");
  if (q->maxsize == 0 && q->getters.head) return channel_send(L, q, "Queue:put_nowait");
  if (try_put(L, q)) return 0;
  return raise_ref(L, full_ref);
}

/* ------------------------------------------------------------- the rest */

static int l_qsize(lua_State *L) {
  lua_pushinteger(L, check_queue(L, "qsize")->n);
  return 1;
}

static int l_empty(lua_State *L) {
  lua_pushboolean(L, check_queue(L, "empty")->n == 0);
  return 1;
}

/* full: a put would wait (slots granted to putters that have not run yet
** count as taken) */
static int l_full(lua_State *L) {
  lua_pushboolean(L, !has_room(check_queue(L, "full")));
  return 1;
}

static int l_getting(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_queue(L, "getting")->getters.n);
  return 1;
}

static int l_putting(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_queue(L, "putting")->putters.n);
  return 1;
}

static lua_Integer opt_maxsize(lua_State *L, int idx, const char *fname) {
  lua_Integer n = gl_sync_optinteger(L, idx, fname, -1);
  return n < 0 ? -1 : n;
}

/* q:resize(maxsize): waiting putters are granted the slots if it grew. */
static int l_resize(lua_State *L) {
  gl_queue *q = check_queue(L, "resize");
  q->maxsize = opt_maxsize(L, 2, "resize");
  grant_slots(L, q);
  return 0;
}

static int l_task_done(lua_State *L) {
  gl_queue *q = check_tasks(L, "task_done");
  if (q->unfinished <= 0)
    return luaL_error(L, "task_done: called more times than items were put");
  if (--q->unfinished == 0)
    while (q->joiners.head) {
      lua_pushnil(L);
      gl_wake_one(L, &q->joiners);
    }
  return 0;
}

static int join_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_pushboolean(L, lua_touserdata(L, -2) != GL_TIMEDOUT);
  return 1;
}

/* q:join([timeout]) -> true, or false if the timeout elapsed first */
static int l_join(lua_State *L) {
  gl_queue *q = check_tasks(L, "join");
  double timeout = gl_sync_opttimeout(L, 2, "join");
  if (q->unfinished == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_settop(L, 1);
  return gl_block(L, "Queue:join", &q->joiners, timeout, join_k);
}

static int l_tostring(lua_State *L) {
  gl_queue *q = check_queue(L, "__tostring");
  static const char *names[] = {"Queue", "LifoQueue", "PriorityQueue"};
  const char *name = q->light ? "LightQueue" : names[q->kind];
  if (q->maxsize < 0) lua_pushfstring(L, "%s (%I items)", name, q->n);
  else lua_pushfstring(L, "%s (%I items, maxsize %I)", name, q->n, q->maxsize);
  return 1;
}

static int new_queue(lua_State *L, int kind, int light, const char *fname) {
  lua_settop(L, 2);
  lua_Integer maxsize = opt_maxsize(L, 1, fname);
  if (kind == PRIORITY && !lua_isnil(L, 2) && lua_type(L, 2) != LUA_TFUNCTION)
    gl_sync_typeerror(L, 2, fname, "function");
  gl_queue *q = lua_newuserdatauv(L, sizeof *q, 3);
  *q = (gl_queue){ .tag = QUEUE_TAG, .maxsize = maxsize, .head = 1, .kind = kind, .light = light };
  luaL_setmetatable(L, light ? LIGHT_MT : QUEUE_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, UV_ITEMS);
  lua_newtable(L);
  lua_setiuservalue(L, -2, UV_PUTS);
  if (kind == PRIORITY) {
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, UV_LESS);
  }
  return 1;
}

static int l_Queue(lua_State *L) { return new_queue(L, FIFO, 0, "Queue"); }
static int l_LightQueue(lua_State *L) { return new_queue(L, FIFO, 1, "LightQueue"); }
static int l_LifoQueue(lua_State *L) { return new_queue(L, LIFO, 0, "LifoQueue"); }
static int l_PriorityQueue(lua_State *L) { return new_queue(L, PRIORITY, 0, "PriorityQueue"); }

static int error_tostring(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE) return gl_sync_typeerror(L, 1, "__tostring", "table");
  lua_getfield(L, 1, "name");
  if (lua_type(L, -1) != LUA_TSTRING) lua_pushliteral(L, "queue error");
  return 1;
}

/* A queue error: a table whose tostring is 'name'; left on the stack. */
static int new_error(lua_State *L, const char *name) {
  lua_createtable(L, 0, 1);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

static void new_meta(lua_State *L, const char *name, const luaL_Reg *methods, int with_tasks) {
  static const luaL_Reg tasks[] = {
    {"task_done", l_task_done}, {"join", l_join}, {NULL, NULL}
  };
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  if (with_tasks) luaL_setfuncs(L, tasks, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);  /* the registry keeps it */
}

void gl_open_queue(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"Queue", l_Queue}, {"LightQueue", l_LightQueue}, {"LifoQueue", l_LifoQueue},
    {"PriorityQueue", l_PriorityQueue}, {NULL, NULL}
  };
  static const luaL_Reg methods[] = {
    {"put", l_put}, {"get", l_get}, {"put_nowait", l_put_nowait},
    {"get_nowait", l_get_nowait}, {"qsize", l_qsize}, {"empty", l_empty},
    {"full", l_full}, {"resize", l_resize}, {"getting", l_getting},
    {"putting", l_putting}, {NULL, NULL}
  };
  luaL_setfuncs(L, functions, 0);
  new_meta(L, QUEUE_MT, methods, 1);
  new_meta(L, LIGHT_MT, methods, 0);
  full_ref = new_error(L, "queue.Full");
  lua_setfield(L, -2, "Full");
  empty_ref = new_error(L, "queue.Empty");
  lua_setfield(L, -2, "Empty");
}
