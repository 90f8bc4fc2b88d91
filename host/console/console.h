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
**   core.stdin_read(max)    -> up to max bytes as they come | nil at end |
**                           nil, err, code: green io.read (lib/green/stdin.lua),
**                           over the same poll; never the line editor
** One reader at a time; a second concurrent readline raises, a second
** stdin_read returns nil, "stdin is being read by another green thread", EBUSY. A reader that is
** interrupted (Ctrl-C, kill) leaves the terminal ready for the next prompt,
** its line discarded. Whatever ends the process (exit, a return from main,
** SIGTERM, SIGHUP, a crash), the terminal is left in the mode it had.
*/
#ifndef GL_CONSOLE_H
#define GL_CONSOLE_H

#include <lua.h>

void gl_open_console(lua_State *L);

/* If a prompt is up, put the terminal back in the mode it had before and
** end the prompt's line. Async-signal-safe: for a signal handler that is
** about to end the process (a second Ctrl-C). Exit paths call it already. */
void gl_console_restore(void);

#endif
