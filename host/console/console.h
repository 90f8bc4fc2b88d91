/*
** console.h: reading lines from stdin through the hub, so green threads keep
** running while a REPL waits for input. On a terminal, lines are edited
** with libedit (BSD licensed) through its callback interface, with history;
** otherwise they are read plainly. Opened as part of "green.core":
**   core.readline(prompt)   -> line (without its newline) | nil at end of input
**   core.console_write(s)   writes s to stdout without garbling a line being
**                           edited (the prompt and the input are redrawn)
**   core.history(path)      load history from path and save it there
**   core.is_terminal()      -> true when lines are edited
** One reader at a time; a second concurrent reader raises. A reader that is
** interrupted (Ctrl-C, kill) leaves the terminal ready for the next prompt,
** its line discarded.
*/
#ifndef GL_CONSOLE_H
#define GL_CONSOLE_H

#include <lua.h>

void gl_open_console(lua_State *L);

#endif
