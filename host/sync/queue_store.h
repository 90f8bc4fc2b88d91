/*
** queue_store.h: what queue.c and queue_store.c share: the queue object and
** its item store. The items live in a Lua table (uservalue UV_ITEMS): a ring
** for FIFO, an array for LIFO, a binary heap for priority.
** Nothing is lost whatever a PriorityQueue's 'less' does (raise, try to
** block, change the queue): every change to the store is planned first,
** with all the comparisons, and made after, with none.
** Each function takes the queue's userdata at index 1 of L.
*/
#ifndef GL_QUEUE_STORE_H
#define GL_QUEUE_STORE_H

#include <lua.h>
#include "core/hub.h"

enum { UV_ITEMS = 1, UV_PUTS = 2, UV_LESS = 3 };
enum { FIFO, LIFO, PRIORITY };

typedef struct gl_queue {
  const char *tag;          /* QUEUE_TAG: what check_queue looks for */
  lua_Integer maxsize;      /* < 0: unbounded; 0: a channel */
  lua_Integer n;            /* items held */
  lua_Integer head, cap;    /* FIFO: index of the first item, ring capacity */
  lua_Integer reserved;     /* slots granted to woken putters not yet run */
  lua_Integer unfinished;   /* items put and not yet task_done */
  unsigned stamp;           /* bumped by every change to the items */
  int kind, light;
  gl_waitq getters, putters, joiners;
} gl_queue;

/* Store the value at 'item': at the back, or with 'front' where the next
** get finds it first. Raises (less, memory) with nothing changed. Leaves
** the items table on top (put returns at once: popping it would cost a
** tenth of a hop). */
void gl_qstore_put(lua_State *L, gl_queue *q, int item, int front);

/* Push the next item, over the items table, and remove it from the store
** (q->n > 0). Raises (less) with nothing changed. */
void gl_qstore_take(lua_State *L, gl_queue *q);

/* Store the item at 'item' a getter was handed and cannot use (it was
** interrupted): where the next get finds it first. Never raises (it runs
** on the way out of an interrupted wait) and leaves the stack as it was. */
void gl_qstore_give_back(lua_State *L, gl_queue *q, int item);

#endif
