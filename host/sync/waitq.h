/*
** waitq.h: wait lists as Lua objects, the one blocking primitive the Lua
** half builds its synchronisation on (require's lock now; Event, Queue,
** Semaphore later). Opened as part of "green.core":
**   core.WaitQueue() -> wq
**   wq:wait([timeout]) -> true, value | false        (false: timed out)
**   wq:wake([value])   -> true if the longest waiter was woken with value
**   wq:wake_all()      -> how many were woken
**   #wq                -> how many wait
** Waiters leave on kill or Timeout (hub.h), so none is ever woken twice or
** woken dead; one interrupted after wake() woke it (with a value or none)
** passes the wake-up on to the next waiter. wake_all's wake-ups are not
** passed on: every waiter there was got one.
*/
#ifndef GL_WAITQ_H
#define GL_WAITQ_H

#include <lua.h>

void gl_open_waitq(lua_State *L);

#endif
