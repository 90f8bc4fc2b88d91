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
**
** Nothing is lost whatever a PriorityQueue's 'less' does (raise, try to
** block, change the queue): every change to the store is planned first,
** with all the comparisons, and made after, with none; 'less' only runs
** for the thread whose put or get it is.
*/
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/args.h"
#include "sync/queue.h"

#define QUEUE_MT "green.Queue"
#define LIGHT_MT "green.LightQueue"
enum { UV_ITEMS = 1, UV_PUTS = 2, UV_LESS = 3 };
enum { FIFO, LIFO, PRIORITY };

typedef struct gl_queue {
  lua_Integer maxsize;      /* < 0: unbounded; 0: a channel */
  lua_Integer n;            /* items held */
  lua_Integer head, cap;    /* FIFO: index of the first item, ring capacity */
  lua_Integer reserved;     /* slots granted to woken putters not yet run */
  lua_Integer unfinished;   /* items put and not yet task_done */
  unsigned stamp;           /* bumped by every change to the items */
  int kind, light;
  gl_waitq getters, putters, joiners;
} gl_queue;

static int full_ref = LUA_NOREF, empty_ref = LUA_NOREF;
static const void *queue_mt, *light_mt;

static gl_queue *check_queue(lua_State *L, const char *fname) {
  const void *mt = gl_udata_meta(L, 1);
  if (mt != queue_mt && mt != light_mt) gl_sync_typeerror(L, 1, fname, "Queue");
  return lua_touserdata(L, 1);
}

/* task_done and join: a Queue of any kind, not a LightQueue */
static gl_queue *check_tasks(lua_State *L, const char *fname) {
  if (gl_udata_meta(L, 1) != queue_mt) gl_sync_typeerror(L, 1, fname, "Queue");
  return lua_touserdata(L, 1);
}

static int raise_ref(lua_State *L, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  return lua_error(L);
}

/* Can a put store now? Granted slots count as taken. */
static int has_room(gl_queue *q) {
  return q->maxsize < 0 || q->n + q->reserved < q->maxsize;
}

/* ---------------------------------------------------- the priority heap */
/* Slots 1..n of the items table. Each operation is a plan (find the slot
** where the moving item settles: every comparison, which may raise) and a
** commit (move the items: no comparison, cannot fail). Each takes the
** queue at index 1 and the items table at 'it'. */

/* less(a, b): the user's function or '<'. User code, so it may do anything:
** one that changed the items raises before the caller moves anything. */
static int less(lua_State *L, gl_queue *q, int a, int b) {
  unsigned stamp = q->stamp;
  int r;
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  if (lua_getiuservalue(L, 1, UV_LESS) == LUA_TNIL) {
    lua_pop(L, 1);
    r = lua_compare(L, a, b, LUA_OPLT);
  } else {
    lua_pushvalue(L, a);
    lua_pushvalue(L, b);
    lua_call(L, 2, 1);
    r = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (q->stamp != stamp)
    luaL_error(L, "PriorityQueue: its less function changed the queue");
  return r;
}

/* Where the item at 'item' settles if it enters at the vacant slot 'pos'
** and rises. */
static lua_Integer rise_plan(lua_State *L, gl_queue *q, int it, lua_Integer pos, int item) {
  while (pos > 1) {
    lua_rawgeti(L, it, pos / 2);
    int up = less(L, q, item, -1);
    lua_pop(L, 1);
    if (!up) break;
    pos /= 2;
  }
  return pos;
}

/* Move the parents of the vacant slot 'from' down until 'to', then place it. */
static void rise_commit(lua_State *L, int it, lua_Integer from, lua_Integer to, int item) {
  for (lua_Integer hole = from; hole > to; hole /= 2) {
    lua_rawgeti(L, it, hole / 2);
    lua_rawseti(L, it, hole);
  }
  lua_pushvalue(L, item);
  lua_rawseti(L, it, to);
}

/* Where the item at 'item' settles if it enters at the vacant root of a
** heap of n slots and sinks. */
static lua_Integer sink_plan(lua_State *L, gl_queue *q, int it, lua_Integer n, int item) {
  lua_Integer pos = 1;
  for (;;) {
    lua_Integer child = 2 * pos;
    if (child > n) break;
    lua_rawgeti(L, it, child);
    if (child + 1 <= n) {
      lua_rawgeti(L, it, child + 1);
      if (less(L, q, -1, -2)) {
        child++;
        lua_replace(L, -2);
      } else {
        lua_pop(L, 1);
      }
    }
    int down = less(L, q, -1, item);
    lua_pop(L, 1);
    if (!down) break;
    pos = child;
  }
  return pos;
}

/* Move the items on the path from the root to 'pos' up a level, then
** place the item at 'pos'. */
static void sink_commit(lua_State *L, int it, lua_Integer pos, int item) {
  lua_Integer path[64];
  int depth = 0;
  for (lua_Integer p = pos; p > 1; p /= 2) path[depth++] = p;
  while (depth-- > 0) {
    lua_rawgeti(L, it, path[depth]);
    lua_rawseti(L, it, path[depth] / 2);
  }
  lua_pushvalue(L, item);
  lua_rawseti(L, it, pos);
}

/* ------------------------------------------------------------ the store */
/* Each takes the queue's userdata at index 1 of L and leaves the stack as
** it found it, but for what it pushes. */

/* Double the FIFO ring, laying the items out from index 1. */
static void grow_ring(lua_State *L, gl_queue *q, int it) {
  lua_Integer cap = q->cap ? q->cap * 2 : 8;
  if (cap > 0x7fffffff) luaL_error(L, "Queue: too many items");
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

/* Store the value at 'item': at the back, or with 'front' where the next
** get finds it first. Raises (less, memory) with nothing changed. */
static void put_item(lua_State *L, gl_queue *q, int item, int front) {
  item = lua_absindex(L, item);
  lua_getiuservalue(L, 1, UV_ITEMS);
  int it = lua_gettop(L);
  if (q->kind == FIFO) {
    if (q->n == q->cap) grow_ring(L, q, it);
    lua_pushvalue(L, item);
    if (front) {
      q->head = q->head == 1 ? q->cap : q->head - 1;
      lua_rawseti(L, it, q->head);
    } else {
      lua_rawseti(L, it, (q->head - 1 + q->n) % q->cap + 1);
    }
  } else if (q->kind == LIFO) {
    lua_pushvalue(L, item);
    lua_rawseti(L, it, q->n + 1);
  } else {
    lua_Integer pos = rise_plan(L, q, it, q->n + 1, item);
    rise_commit(L, it, q->n + 1, pos, item);
  }
  q->n++;
  q->stamp++;
  lua_settop(L, it - 1);
}

/* Push the next item and remove it from the store (q->n > 0). */
static void take_item(lua_State *L, gl_queue *q) {
  lua_getiuservalue(L, 1, UV_ITEMS);
  int it = lua_gettop(L);
  if (q->kind == FIFO) {
    lua_rawgeti(L, it, q->head);
    lua_pushnil(L);
    lua_rawseti(L, it, q->head);
    q->head = q->head == q->cap ? 1 : q->head + 1;
  } else if (q->kind == LIFO) {
    lua_rawgeti(L, it, q->n);
    lua_pushnil(L);
    lua_rawseti(L, it, q->n);
  } else {
    lua_rawgeti(L, it, 1);         /* the result */
    lua_rawgeti(L, it, q->n);      /* the last item sinks from the root */
    lua_Integer pos = sink_plan(L, q, it, q->n - 1, it + 2);
    sink_commit(L, it, pos, it + 2);
    lua_pushnil(L);                /* its old slot (pos < n, or n == 1) */
    lua_rawseti(L, it, q->n);
    lua_pop(L, 1);
  }
  q->n--;
  q->stamp++;
  lua_remove(L, it);
}

static int protected_put(lua_State *L) {
  put_item(L, lua_touserdata(L, 1), 2, 1);
  return 0;
}

/* A getter interrupted after it was handed the item at 'item' gives it
** back. This runs on the way out of an interrupted wait and must not raise:
** if the heap's 'less' does, the item goes in unsorted, at the end (a heap
** out of order still holds each of its items once). */
static void give_back(lua_State *L, gl_queue *q, int item) {
  item = lua_absindex(L, item);
  if (q->kind != PRIORITY) {
    put_item(L, q, item, 1);
    return;
  }
  lua_pushcfunction(L, protected_put);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, item);
  if (lua_pcall(L, 2, 0, 0) == LUA_OK) return;
  lua_pop(L, 1);
  lua_getiuservalue(L, 1, UV_ITEMS);
  lua_pushvalue(L, item);
  lua_rawseti(L, -2, q->n + 1);
  lua_pop(L, 1);
  q->n++;
  q->stamp++;
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
    take_item(L, q);
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
    give_back(L, q, -1);
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
  if (try_get(L, q)) return 1;
  if (!block) return raise_ref(L, empty_ref);
  lua_settop(L, 1);
  return gl_block_cancel(L, "get", &q->getters, timeout, get_k, get_cancel);
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
    lua_pushvalue(L, 2);
    gl_wake(L, q->getters.head);
  } else {
    put_item(L, q, 2, 0);
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
  if (q->maxsize == 0 && q->getters.head) return channel_send(L, q, "put");
  if (try_put(L, q)) return 0;
  if (!block) return raise_ref(L, full_ref);
  gl_thread *t = gl_check_block(L, "put");
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, UV_PUTS);   /* the item waits here for a getter */
  lua_pushvalue(L, 2);
  lua_rawsetp(L, -2, t);
  lua_settop(L, 2);
  return gl_block_cancel(L, "put", &q->putters, timeout, put_k, put_cancel);
}

static int l_put_nowait(lua_State *L) {
  gl_queue *q = check_queue(L, "put_nowait");
  check_item(L, "put_nowait");
  if (q->maxsize == 0 && q->getters.head) return channel_send(L, q, "put_nowait");
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
  return gl_block(L, "join", &q->joiners, timeout, join_k);
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
