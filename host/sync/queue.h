/*
** queue.h: green.Queue and its kinds, with eventlet's semantics.
** Opened as part of "green.core":
**   core.Queue(maxsize)       FIFO with task_done/join
**   core.LightQueue(maxsize)  FIFO without them (less bookkeeping)
**   core.LifoQueue(maxsize)   last in, first out
**   core.PriorityQueue(maxsize, less)  lowest first; less(a, b) or a < b
**   core.Full, core.Empty     what put/get raise when they cannot proceed
** maxsize nil or negative: unbounded; 0: a channel (put waits for a getter;
** a put that finds a getter waiting lets it run before returning).
** Waiting getters and putters are served in arrival order. An item is
** handed straight to the longest-waiting getter; a getter interrupted after
** it was handed one gives it back (to the next getter, else to the front of
** the queue), so no item is ever lost or taken twice. Room made in a full
** queue is granted to the longest-waiting putter, which puts its item in
** when it runs; interrupted first, it passes the room on and its put
** raises with the item not queued. (A channel's putter interrupted after a
** getter took its item raises too, though the item was delivered: the hub
** offers no way to finish a wait and defer the interruption.)
*/
#ifndef GL_QUEUE_H
#define GL_QUEUE_H

#include <lua.h>

void gl_open_queue(lua_State *L);

#endif
