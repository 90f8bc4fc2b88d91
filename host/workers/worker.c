/*
** worker.c: a worker's side of `greenlua --workers` (protocol in
** workers.h). gl_worker_init takes the slot and control fd from the
** environment at start-up; green.worker() returns the slot; green.listen
** (lib/green/net.lua) asks the master for its socket through
** core.worker_listen instead of making one, and wraps what it gets as a
** normal green listening socket.
** The request blocks the process: the master answers at once (it makes
** the sockets and replies in one step), and a bound (WAIT_MS) keeps a
** master that cannot answer from hanging the worker for ever. Threads of
** the worker never interleave requests: nothing yields in between.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include "io/socket.h"
#include "io/net.h"
#include "workers/workers.h"

#define WAIT_MS 10000

static int worker_slot;      /* 1..N, 0: not a worker */
static int master_fd = -1;

/* A decimal in [lo, hi] that is all of s, else -1. */
static long parse_num(const char *s, long lo, long hi) {
  if (s == NULL || *s == '\0') return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  return v;
}

void gl_worker_init(void) {
  long slot = parse_num(getenv(GL_WORKER_ENV), 1, GL_WORKERS_MAX);
  long fd = parse_num(getenv(GL_MASTER_FD_ENV), 3, INT_MAX);
  unsetenv(GL_WORKER_ENV);
  unsetenv(GL_MASTER_FD_ENV);
  if (slot < 0 || fd < 0) return;
  struct stat st;
  int type = 0;
  socklen_t tlen = sizeof type;
  /* Only our control socket: a stray variable naming another fd is ignored. */
  if (fstat((int)fd, &st) < 0 || !S_ISSOCK(st.st_mode)
      || getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_SEQPACKET)
    return;
  fcntl((int)fd, F_SETFD, FD_CLOEXEC);  /* not for the programs the script runs */
  worker_slot = (int)slot;
  master_fd = (int)fd;
}

/* worker() -> the worker's slot number (1..N), or nil */
static int l_worker(lua_State *L) {
  if (worker_slot) lua_pushinteger(L, worker_slot);
  else lua_pushnil(L);
  return 1;
}

/* Ask the master; returns the socket's fd (>= 0) or a libuv error code. */
static int ask_master(const char *ip, int port, int backlog) {
  char req[128], ans[64];
  snprintf(req, sizeof req, "listen %s %d %d", ip, port, backlog);
  if (send(master_fd, req, strlen(req), MSG_NOSIGNAL) < 0) return uv_translate_sys_error(errno);
  struct pollfd p = { master_fd, POLLIN, 0 };
  int r;
  do r = poll(&p, 1, WAIT_MS); while (r < 0 && errno == EINTR);
  if (r == 0) return UV_ETIMEDOUT;
  if (r < 0) return uv_translate_sys_error(errno);
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  struct iovec iov = { ans, sizeof ans - 1 };
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t n;
  do n = recvmsg(master_fd, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) return uv_translate_sys_error(errno);
  if (n == 0) return UV_ECONNRESET;
  ans[n] = '\0';
  int fd = -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
  int code;
  if (strncmp(ans, "ok ", 3) == 0 && fd >= 0) return fd;
  if (fd >= 0) close(fd);
  if (sscanf(ans, "err %d", &code) == 1 && code < 0) return code;
  return UV_EPROTO;
}

/* worker_listen(ip, port [, backlog]) -> listening socket, or nil, err:
** this slot's socket for the address, from the master. */
static int l_worker_listen(lua_State *L) {
  struct sockaddr_storage at;
  int port = gl_check_port(L, 2, "worker_listen");
  const char *ip = gl_net_checkstring(L, 1, "worker_listen", NULL);
  if (gl_parse_address(ip, port, &at) != 0)
    return gl_net_argerror(L, 1, "worker_listen", lua_pushfstring(L, "not a numeric address: '%s'", ip));
  lua_Integer backlog = lua_isnoneornil(L, 3) ? 128 : gl_net_checkinteger(L, 3, "worker_listen");
  if (backlog < 0 || backlog > INT_MAX) return gl_net_argerror(L, 3, "worker_listen", "backlog out of range");
  if (master_fd < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "not a worker");
    return 2;
  }
  lua_settop(L, 3);
  gl_sock *s = gl_sock_new(L, GL_TCP, AF_UNSPEC);  /* before the fd: it raises on no memory */
  int fd = ask_master(ip, port, (int)backlog);
  int err = fd < 0 ? fd : uv_tcp_open(&s->io->h.tcp, fd);
  if (err == 0) err = gl_sock_listen(s, (int)backlog);
  if (err) {
    if (fd >= 0) {
      /* uv_tcp_open may have taken it: releasing the socket closes it then */
      uv_os_fd_t held;
      if (uv_fileno(&s->io->h.handle, &held) != 0) close(fd);
    }
    gl_sock_release(s);
    return gl_sock_fail(L, err);
  }
  return 1;
}

void gl_open_worker(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"worker", l_worker}, {"worker_listen", l_worker_listen}, {NULL, NULL}
  };
  luaL_setfuncs(L, functions, 0);
}
