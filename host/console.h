/*
** console.h: reading lines from stdin through the hub, so green threads keep
** running while a REPL waits for input. Opened as part of "green.core":
**   core.readline(prompt) -> line (without its newline) | nil at end of input
** One reader at a time; a second concurrent reader raises.
*/
#ifndef GL_CONSOLE_H
#define GL_CONSOLE_H

#include <lua.h>

void gl_open_console(lua_State *L);

#endif
