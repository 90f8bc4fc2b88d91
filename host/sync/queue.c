/*
** queue.c: green queues. The items live in a Lua table (uservalue 1): a
** ring for FIFO, an array for LIFO, a binary heap for priority. The items of
** putters waiting on a full queue live in a second table (uservalue 2),
** keyed by their thread, until a getter takes them.
*/
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/queue.h"

#define QUEUE_MT "green.Queue"
#define LIGHT_MT "green.LightQueue"
enum { UV_ITEMS = 1, UV_PUTS = 2, UV_LESS = 3 };
enum { FIFO, LIFO, PRIORITY };

typedef struct gl_queue {
  lua_Integer maxsize;      /* < 0: unbounded; 0: a channel */
  lua_Integer n;            /* items held */
  lua_Integer head, cap;    /* FIFO: index of the first item, ring capacity */
  lua_Integer unfinished;   /* items put and not yet task_done */
  int kind, light;
  gl_waitq getters, putters, joiners;
} gl_queue;

static int full_ref = LUA_NOREF, empty_ref = LUA_NOREF;
static const void *queue_mt, *light_mt;

static gl_queue *check_queue(lua_State *L) {
  const void *mt = gl_udata_meta(L, 1);
  if (mt != queue_mt && mt != light_mt) luaL_typeerror(L, 1, "Queue");
  return lua_touserdata(L, 1);
}

static int raise_ref(lua_State *L, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  return lua_error(L);
}

/* ---------------------------------------------------------- item store */
/* Each takes the queue's userdata at index 1 of L. */

/* less(a, b) for the priority heap: the values at a and b. */
static int less(lua_State *L, int a, int b) {
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  if (lua_getiuservalue(L, 1, UV_LESS) == LUA_TNIL) {
    lua_pop(L, 1);
    return lua_compare(L, a, b, LUA_OPLT);
  }
  lua_pushvalue(L, a);
  lua_pushvalue(L, b);
  lua_call(L, 2, 1);
  int r = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

/* The heap operations compare first and move after, so a 'less' that
** raises leaves the heap as it was: nothing lost, nothing duplicated. */

/* Insert the value on top of L (left there) into a heap of n items at 'it'. */
static void heap_push(lua_State *L, int it, lua_Integer n) {
  lua_Integer pos = n + 1;
  while (pos > 1) {                  /* find its place */
    lua_rawgeti(L, it, pos / 2);
    int up = less(L, -2, -1);
    lua_pop(L, 1);
    if (!up) break;
    pos /= 2;
  }
  for (lua_Integer hole = n + 1; hole > pos; hole /= 2) {  /* make room */
    lua_rawgeti(L, it, hole / 2);
    lua_rawseti(L, it, hole);
  }
  lua_pushvalue(L, -1);
  lua_rawseti(L, it, pos);
}

/* Remove the root of a heap of n items at 'it', pushing it. */
static void heap_pop(lua_State *L, int it, lua_Integer n) {
  lua_rawgeti(L, it, 1);             /* the result */
  lua_rawgeti(L, it, n);             /* the last item sinks from the root */
  lua_Integer pos = 1;
  for (;;) {                         /* find its place among n - 1 items */
    lua_Integer child = 2 * pos;
    if (child > n - 1) break;
    lua_rawgeti(L, it, child);
    if (child + 1 <= n - 1) {
      lua_rawgeti(L, it, child + 1);
      if (less(L, -1, -2)) child++;
      lua_pop(L, 1);
    }
    lua_rawgeti(L, it, child);
    int down = less(L, -1, -3);
    lua_pop(L, 2);
    if (!down) break;
    pos = child;
  }
  /* move the children on its path up, then settle it */
  lua_Integer path[64], depth = 0;
  for (lua_Integer p = pos; p > 1; p /= 2) path[depth++] = p;
  for (lua_Integer k = depth - 1; k >= 0; k--) {
    lua_rawgeti(L, it, path[k]);
    lua_rawseti(L, it, path[k] / 2);
  }
  lua_rawseti(L, it, pos);
  lua_pushnil(L);                    /* its old slot (pos < n, or n == 1) */
  lua_rawseti(L, it, n);
}

/* Double the FIFO ring, laying the items out from index 1. */
static void grow_ring(lua_State *L, gl_queue *q, int it) {
  lua_Integer cap = q->cap ? q->cap * 2 : 8;
  lua_createtable(L, (int)cap, 0);
  for (lua_Integer i = 0; i < q->n; i++) {
    lua_rawgeti(L, it, (q->head - 1 + i) % q->cap + 1);
    lua_rawseti(L, -2, i + 1);
  }
  lua_copy(L, -1, it);
  lua_setiuservalue(L, 1, UV_ITEMS);
  q->head = 1;
  q->cap = cap;
}

/* Store the value on top of L (popped), at the back, or with 'front' where
** the next get finds it first. */
static void store(lua_State *L, gl_queue *q, int front) {
  lua_getiuservalue(L, 1, UV_ITEMS);
  lua_insert(L, -2);                 /* items value */
  int it = lua_gettop(L) - 1;
  if (q->kind == FIFO) {
    if (q->n == q->cap) grow_ring(L, q, it);
    if (front) {
      q->head = q->head == 1 ? q->cap : q->head - 1;
      lua_rawseti(L, it, q->head);
    } else {
      lua_rawseti(L, it, (q->head - 1 + q->n) % q->cap + 1);
    }
  } else if (q->kind == LIFO) {
    lua_rawseti(L, it, q->n + 1);
  } else {
    heap_push(L, it, q->n);
    lua_pop(L, 1);
  }
  q->n++;
  lua_pop(L, 1);
}

/* Push the next item and remove it from the store (q->n > 0). */
static void take(lua_State *L, gl_queue *q) {
  lua_getiuservalue(L, 1, UV_ITEMS);
  int it = lua_gettop(L);
  if (q->kind == FIFO) {
    lua_rawgeti(L, it, q->head);
    lua_pushnil(L);
    lua_rawseti(L, it, q->head);
    q->head = q->head == q->cap ? 1 : q->head + 1;
    q->n--;
  } else if (q->kind == LIFO) {
    lua_rawgeti(L, it, q->n);
    lua_pushnil(L);
    lua_rawseti(L, it, q->n--);
  } else {
    heap_pop(L, it, q->n);
    q->n--;
  }
  lua_remove(L, it);
}

/* -------------------------------------------------- waiting putters */

/* Push the item of the first waiting putter, forget it, and let the putter
** go: its put is done. */
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

static int has_room(gl_queue *q) {
  return q->maxsize < 0 || q->n < q->maxsize;
}

/* Move waiting putters' items in while there is room. */
static void admit_putters(lua_State *L, gl_queue *q) {
  while (q->putters.head && has_room(q)) {
    take_from_putter(L, q);
    store(L, q, 0);
  }
}

/* ---------------------------------------------------------------- get */

/* Push an item if one can be had now. */
static int try_get(lua_State *L, gl_queue *q) {
  if (q->n > 0) {
    take(L, q);
    if (q->putters.head && has_room(q)) {  /* the longest putter fills the slot */
      take_from_putter(L, q);
      store(L, q, 0);
    }
    return 1;
  }
  if (q->putters.head) {    /* a channel, or a queue shrunk by resize */
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
  lua_pushvalue(L, -1);
  if (q->getters.head) gl_wake(L, q->getters.head);
  else store(L, q, 1);
}

/* q:get([block [, timeout]]) */
static int l_get(lua_State *L) {
  gl_queue *q = check_queue(L);
  if (try_get(L, q)) return 1;
  int block = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
  double timeout = gl_opt_timeout(L, 3);
  if (!block) return raise_ref(L, empty_ref);
  lua_settop(L, 1);
  return gl_block_cancel(L, "get", &q->getters, timeout, get_k, get_cancel);
}

static int l_get_nowait(lua_State *L) {
  gl_queue *q = check_queue(L);
  if (try_get(L, q)) return 1;
  return raise_ref(L, empty_ref);
}

/* ---------------------------------------------------------------- put */

/* Queue the value at 'idx' if that can be done now. */
static int try_put(lua_State *L, gl_queue *q, int idx) {
  if (q->getters.head) {
    lua_pushvalue(L, idx);
    gl_wake(L, q->getters.head);
  } else if (has_room(q)) {
    lua_pushvalue(L, idx);
    store(L, q, 0);
  } else {
    return 0;
  }
  q->unfinished++;
  return 1;
}

static void forget_item(lua_State *L) {
  lua_getiuservalue(L, 1, UV_PUTS);
  lua_pushnil(L);
  lua_rawsetp(L, -2, gl_H.current);
  lua_pop(L, 1);
}

static int put_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_touserdata(L, -2) == GL_TIMEDOUT) {
    forget_item(L);
    return raise_ref(L, full_ref);
  }
  return 0;  /* a getter took the item */
}

/* Interrupted while waiting: the item was never queued. */
static void put_cancel(lua_State *L) {
  if (lua_touserdata(L, -2) == GL_THROW) forget_item(L);
}

static void check_item(lua_State *L) {
  if (lua_isnoneornil(L, 2)) luaL_argerror(L, 2, "nil cannot be queued");
}

/* q:put(item [, block [, timeout]]) */
static int l_put(lua_State *L) {
  gl_queue *q = check_queue(L);
  check_item(L);
  if (try_put(L, q, 2)) return 0;
  int block = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
  double timeout = gl_opt_timeout(L, 4);
  if (!block) return raise_ref(L, full_ref);
  gl_thread *t = gl_check_block(L, "put");
  lua_getiuservalue(L, 1, UV_PUTS);   /* the item waits here for a getter */
  lua_pushvalue(L, 2);
  lua_rawsetp(L, -2, t);
  lua_settop(L, 2);
  return gl_block_cancel(L, "put", &q->putters, timeout, put_k, put_cancel);
}

static int l_put_nowait(lua_State *L) {
  gl_queue *q = check_queue(L);
  check_item(L);
  if (try_put(L, q, 2)) return 0;
  return raise_ref(L, full_ref);
}

/* ------------------------------------------------------------- the rest */

static int l_qsize(lua_State *L) {
  lua_pushinteger(L, check_queue(L)->n);
  return 1;
}

static int l_empty(lua_State *L) {
  lua_pushboolean(L, check_queue(L)->n == 0);
  return 1;
}

static int l_full(lua_State *L) {
  gl_queue *q = check_queue(L);
  lua_pushboolean(L, q->maxsize >= 0 && q->n >= q->maxsize);
  return 1;
}

static int l_getting(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_queue(L)->getters.n);
  return 1;
}

static int l_putting(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_queue(L)->putters.n);
  return 1;
}

static lua_Integer opt_maxsize(lua_State *L, int idx) {
  lua_Integer n = luaL_optinteger(L, idx, -1);
  return n < 0 ? -1 : n;
}

/* q:resize(maxsize): waiting putters move in if it grew. */
static int l_resize(lua_State *L) {
  gl_queue *q = check_queue(L);
  q->maxsize = opt_maxsize(L, 2);
  admit_putters(L, q);
  return 0;
}

static int l_task_done(lua_State *L) {
  gl_queue *q = luaL_checkudata(L, 1, QUEUE_MT);  /* not a LightQueue */
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
  gl_queue *q = luaL_checkudata(L, 1, QUEUE_MT);
  double timeout = gl_opt_timeout(L, 2);
  if (q->unfinished == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_settop(L, 1);
  return gl_block(L, "join", &q->joiners, timeout, join_k);
}

static int l_tostring(lua_State *L) {
  gl_queue *q = check_queue(L);
  static const char *names[] = {"Queue", "LifoQueue", "PriorityQueue"};
  const char *name = q->light ? "LightQueue" : names[q->kind];
  if (q->maxsize < 0) lua_pushfstring(L, "%s (%I items)", name, q->n);
  else lua_pushfstring(L, "%s (%I items, maxsize %I)", name, q->n, q->maxsize);
  return 1;
}

static int new_queue(lua_State *L, int kind, int light) {
  lua_settop(L, 2);
  lua_Integer maxsize = opt_maxsize(L, 1);
  if (kind == PRIORITY && !lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  gl_queue *q = lua_newuserdatauv(L, sizeof *q, 3);
  *q = (gl_queue){ .maxsize = maxsize, .head = 1, .kind = kind, .light = light };
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

static int l_Queue(lua_State *L) { return new_queue(L, FIFO, 0); }
static int l_LightQueue(lua_State *L) { return new_queue(L, FIFO, 1); }
static int l_LifoQueue(lua_State *L) { return new_queue(L, LIFO, 0); }
static int l_PriorityQueue(lua_State *L) { return new_queue(L, PRIORITY, 0); }

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "name");
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

static const void *new_meta(lua_State *L, const char *name, const luaL_Reg *methods, int with_tasks) {
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
  const void *mt = lua_topointer(L, -1);
  lua_pop(L, 1);  /* the registry keeps it */
  return mt;
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
  queue_mt = new_meta(L, QUEUE_MT, methods, 1);
  light_mt = new_meta(L, LIGHT_MT, methods, 0);
  full_ref = new_error(L, "queue.Full");
  lua_setfield(L, -2, "Full");
  empty_ref = new_error(L, "queue.Empty");
  lua_setfield(L, -2, "Empty");
}
