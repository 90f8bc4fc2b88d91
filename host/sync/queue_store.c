/*
** queue_store.c: the items of a queue (see queue_store.h): a ring, an
** array or a binary heap in a Lua table.
*/
#include <lauxlib.h>
#include "sync/queue_store.h"

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
/* Each takes the queue's userdata at index 1 of L. They leave the items
** table on the stack, under what they push: put and get return at once,
** and popping it would cost a tenth of a hop. */

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
** get finds it first. Raises (less, memory) with nothing changed. Leaves
** the items table on top. */
void gl_qstore_put(lua_State *L, gl_queue *q, int item, int front) {
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
}

/* Push the next item, over the items table, and remove it from the store
** (q->n > 0). */
void gl_qstore_take(lua_State *L, gl_queue *q) {
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
}

static int protected_put(lua_State *L) {
  gl_qstore_put(L, lua_touserdata(L, 1), 2, 1);
  return 0;
}

/* A getter interrupted after it was handed the item at 'item' gives it
** back. This runs on the way out of an interrupted wait and must not raise:
** if the heap's 'less' does, the item goes in unsorted, at the end (a heap
** out of order still holds each of its items once). */
void gl_qstore_give_back(lua_State *L, gl_queue *q, int item) {
  item = lua_absindex(L, item);
  if (q->kind != PRIORITY) {
    gl_qstore_put(L, q, item, 1);
    lua_pop(L, 1);   /* the hook must leave the tag and value on top */
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

