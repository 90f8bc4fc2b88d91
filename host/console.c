/*
** console.c: line input on the hub. A uv_poll watches fd 0 and one read()
** follows each readiness report, so stdin is never switched to non-blocking
** mode (it may be shared with the shell). Regular files cannot be polled;
** reading them never waits long, so they are read directly.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "hub.h"
#include "console.h"

static struct {
  uv_poll_t poll;
  int polling;       /* 1: poll handle set up; -1: fd 0 cannot be polled */
  char *buf;
  size_t len, cap;
  int eof;
  gl_waitq readers;  /* at most one */
} C;

/* Read what fd 0 has into the buffer; marks end of input or error. */
static void fill(void) {
  if (C.cap - C.len < 4096) {
    size_t cap = C.cap ? C.cap * 2 : 8192;
    char *buf = realloc(C.buf, cap);
    if (buf == NULL) { C.eof = 1; return; }
    C.buf = buf;
    C.cap = cap;
  }
  ssize_t n;
  do n = read(0, C.buf + C.len, C.cap - C.len); while (n < 0 && errno == EINTR);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) C.eof = 1;
  } else {
    C.len += (size_t)n;
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  if (status < 0) C.eof = 1;
  else fill();
  if (C.eof || C.readers.n == 0 || memchr(C.buf, '\n', C.len)) uv_poll_stop(handle);
  lua_pushnil(gl_H.L);
  gl_wake_one(gl_H.L, &C.readers);
}

/* Push the next complete line (or the unterminated rest at end of input)
** and return 1, or return 0 if more input is needed. */
static int take_line(lua_State *L) {
  char *nl = C.len ? memchr(C.buf, '\n', C.len) : NULL;
  size_t used, keep;
  if (nl) {
    used = (size_t)(nl - C.buf) + 1;
    keep = used - 1;
  } else if (C.eof) {
    if (C.len == 0) {
      lua_pushnil(L);
      return 1;
    }
    used = keep = C.len;
  } else {
    return 0;
  }
  if (keep > 0 && C.buf[keep - 1] == '\r') keep--;
  lua_pushlstring(L, C.buf, keep);
  memmove(C.buf, C.buf + used, C.len - used);
  C.len -= used;
  return 1;
}

static int readline_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_settop(L, 0);
  while (!take_line(L)) {
    if (C.polling == 0)
      C.polling = uv_poll_init(gl_H.loop, &C.poll, 0) == 0 ? 1 : -1;
    if (C.polling < 0) {
      fill();  /* a regular file: read() never waits long */
      continue;
    }
    if (C.readers.n > 0) return luaL_error(L, "readline: another green thread is reading stdin");
    uv_poll_start(&C.poll, UV_READABLE, on_readable);
    return gl_block(L, "readline", &C.readers, -1, readline_k);
  }
  return 1;
}

static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "");
  fputs(prompt, stdout);
  fflush(stdout);
  return readline_k(L, LUA_OK, 0);
}

void gl_open_console(lua_State *L) {
  lua_pushcfunction(L, l_readline);
  lua_setfield(L, -2, "readline");
}
