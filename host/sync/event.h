/*
** event.h: green.Event, eventlet's one-shot broadcast. Opened as part of
** "green.core" as core.Event().
**   evt:send(...)          wake every waiter with these values; never yields;
**                          a second send without reset raises
**                          "already-triggered"
**   evt:send_exception(e)  waiters raise e (the same value)
**   evt:wait([timeout])    the sent values (at once if already sent), raises
**                          the sent exception, or nothing on timeout
**   evt:ready(), evt:has_result(), evt:has_exception(), evt:poll(),
**   evt:reset()            (raises on an event never sent)
** Waiters get the values of the send that woke them, even if the event is
** reset and sent again before they run.
*/
#ifndef GL_EVENT_H
#define GL_EVENT_H

#include <lua.h>

void gl_open_event(lua_State *L);

#endif
