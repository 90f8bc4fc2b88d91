/*
** fs.h: file system calls on libuv's thread pool (see fs.c for the
** contract). Opened as part of "green.core".
*/
#ifndef GL_FS_H
#define GL_FS_H

#include <lua.h>

void gl_open_fs(lua_State *L);

#endif
