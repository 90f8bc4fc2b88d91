/*
** timeout.h: green.Timeout, a deadline that raises inside the green thread
** that created it. Started at once; while armed it keeps itself alive, so a
** Timeout nobody holds still fires. Opened as part of "green.core".
*/
#ifndef GL_TIMEOUT_H
#define GL_TIMEOUT_H

#include <lua.h>

/* Add Timeout and is_timeout to the table on top of L. */
void gl_open_timeout(lua_State *L);

#endif
