/*
** master.c: the master of `greenlua --workers N` (contract in workers.h).
** No Lua state and no libuv loop: one poll() over a self-pipe (signals)
** and each worker's control socket, so nothing of the master can stall on
** a script. It owns:
**  - the workers: N slots; a slot has its current process and, during a
**    SIGHUP replacement, a fresh one starting. A process that dies is
**    restarted after 0.1 s doubling to 1 s for each death in a row within
**    10 s of its start; the 5th such death in a row of a slot stops the
**    master with an error (exit 1).
**  - the listening sockets: one SO_REUSEPORT socket per slot and listen
**    address (a worker's k-th listen of the same ip and port is the k-th
**    address), made when the slot first asks, all bound to one port (port
**    0: the first bind picks it) and listening; each worker gets its
**    slot's. The master keeps them until it stops, so connections queued
**    on a dead worker's socket wait for its successor instead of being
**    reset.
** Signals: TERM/INT stop (workers get TERM, again at a second one; exit 0
** if every worker then exited 0, else 1); HUP replaces the slots one by
** one (the old process gets TERM once the new one was handed a socket, or
** has run READY_AFTER s: a script that never listens); QUIT is forwarded.
** Workers are started by fork + execve rather than uv_spawn or
** posix_spawn because PR_SET_PDEATHSIG (workers die with the master) must
** be set in the child between the two. Each worker gets its own session:
** a Ctrl-C at the terminal reaches the master only, which stops them
** gracefully; stdin is /dev/null (N processes cannot share it), stdout
** and stderr are the master's.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <uv.h>
#include "workers/workers.h"

#define RESTART_MIN 0.1   /* seconds before the first restart */
#define RESTART_MAX 1.0
#define EARLY 10.0        /* a death this soon after the start counts towards... */
#define GIVE_UP 5         /* ...giving up at this many in a row */
#define READY_AFTER 5.0   /* a fresh worker that never listens is ready after this */
#define MAX_LISTEN 64     /* listen addresses */

typedef struct proc {
  pid_t pid;                        /* 0: a free entry */
  int slot;
  int ctl;                          /* the master's end; -1 once closed */
  double started;
  int ready, retiring;
  unsigned char taken[MAX_LISTEN];  /* the listeners it was handed */
} proc;

typedef struct slot {
  int cur, fresh;        /* proc indices, -1: none */
  double restart_at;     /* 0: no restart pending */
  int restart_fresh;     /* the pending start is a HUP replacement */
  int streak;            /* early deaths in a row */
} slot;

typedef struct listener {
  char ip[64];
  int asked, port;       /* the port asked for (0 maybe) and the one bound */
  int *fds;              /* one per slot */
} listener;

static struct {
  int n, nprocs;
  char **argv, **envp;   /* envp: the environment, then our two, then NULL */
  int envn;
  proc *procs;           /* 2n: a current and a fresh one per slot */
  slot *slots;
  listener ls[MAX_LISTEN];
  int nls;
  int sigpipe[2];
  int stopping, failed, all_ok;
  int hup_next, hup_again;  /* the slot being replaced (-1: none); another HUP came */
  char env_slot[64], env_fd[64];
} M;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_signal(int sig) {
  int saved = errno;
  char c = (char)sig;
  ssize_t r = write(M.sigpipe[1], &c, 1);  /* full pipe: a signal is already pending */
  (void)r;
  errno = saved;
}

static void catch(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/* ---------------------------------------------------------- listeners */

static void close_fds(int *fds, int k) {
  for (int i = 0; i < k; i++)
    if (fds[i] >= 0) close(fds[i]);
}

/* Make slot s's socket of listener l (the first one made binds the port
** asked for, and so picks it if 0; the others join it); 0 or a libuv
** error code. Made when the slot first asks, not for every slot at once:
** a socket no worker accepts on would hold the connections the kernel
** gives it (an address only worker 1 listens on, say 3000 + worker). */
static int open_slot(listener *l, int s, int backlog) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (uv_ip4_addr(l->ip, l->port, (struct sockaddr_in *)&ss) != 0
      && uv_ip6_addr(l->ip, l->port, (struct sockaddr_in6 *)&ss) != 0)
    return UV_EINVAL;
  socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int on = 1, fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  /* SO_REUSEADDR as libuv's bind sets it; SO_REUSEPORT before bind, as
  ** libuv 1.44 has no flag for it. */
  struct sockaddr_storage got;
  socklen_t glen = sizeof got;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0
      || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0
      || bind(fd, (struct sockaddr *)&ss, len) < 0
      || listen(fd, backlog) < 0
      || getsockname(fd, (struct sockaddr *)&got, &glen) < 0) {
    int e = errno;
    close(fd);
    return uv_translate_sys_error(e);
  }
  l->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
  l->fds[s] = fd;
  return 0;
}

static void reply(proc *p, const char *text, int fd) {
  struct msghdr msg;
  struct iovec iov = { (void *)text, strlen(text) };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    memset(&u, 0, sizeof u);
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  /* A worker gone meanwhile: its death is noticed through SIGCHLD. */
  (void)sendmsg(p->ctl, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void on_ready(int i);

/* "listen <ip> <port> <backlog>": the slot's socket for the address. */
static void on_request(int i, const char *req) {
  proc *p = &M.procs[i];
  char ip[64], out[64];
  int port, backlog;
  if (sscanf(req, "listen %63s %d %d", ip, &port, &backlog) != 3 || port < 0 || port > 65535
      || backlog < 0) {
    snprintf(out, sizeof out, "err %d", UV_EINVAL);
    reply(p, out, -1);
    return;
  }
  if (M.stopping) {  /* its sockets are closed */
    snprintf(out, sizeof out, "err %d", UV_ECANCELED);
    reply(p, out, -1);
    return;
  }
  int j;
  for (j = 0; j < M.nls; j++)
    if (!p->taken[j] && M.ls[j].asked == port && strcmp(M.ls[j].ip, ip) == 0) break;
  if (j == M.nls) {
    if (M.nls == MAX_LISTEN) {
      snprintf(out, sizeof out, "err %d", UV_ENOBUFS);
      reply(p, out, -1);
      return;
    }
    listener *l = &M.ls[j];
    memset(l, 0, sizeof *l);
    snprintf(l->ip, sizeof l->ip, "%s", ip);
    l->asked = l->port = port;
    l->fds = malloc(M.n * sizeof *l->fds);
    if (l->fds == NULL) {
      snprintf(out, sizeof out, "err %d", UV_ENOMEM);
      reply(p, out, -1);
      return;
    }
    for (int s = 0; s < M.n; s++) l->fds[s] = -1;
    M.nls++;
  }
  if (M.ls[j].fds[p->slot] < 0) {
    int err = open_slot(&M.ls[j], p->slot, backlog);
    if (err) {
      snprintf(out, sizeof out, "err %d", err);
      reply(p, out, -1);
      return;
    }
  }
  p->taken[j] = 1;
  snprintf(out, sizeof out, "ok %d", M.ls[j].port);
  reply(p, out, M.ls[j].fds[p->slot]);
  on_ready(i);
}

static void on_control(int i) {
  proc *p = &M.procs[i];
  char buf[256];
  ssize_t r = recv(p->ctl, buf, sizeof buf - 1, MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {  /* the worker closed it (exiting): its death comes by SIGCHLD */
    close(p->ctl);
    p->ctl = -1;
    return;
  }
  buf[r] = '\0';
  on_request(i, buf);
}

/* ------------------------------------------------------------ workers */

static int live(void) {
  int k = 0;
  for (int i = 0; i < 2 * M.n; i++) k += M.procs[i].pid != 0;
  return k;
}

static void signal_all(int sig) {
  for (int i = 0; i < 2 * M.n; i++)
    if (M.procs[i].pid) kill(M.procs[i].pid, sig);
}

/* Stopping: the workers get TERM, and the master lets go of its sockets,
** so a listener closes (refusing connections) as soon as the workers have
** closed theirs, rather than queueing connections nobody will accept. */
static void stop_all(void) {
  M.stopping = 1;
  M.hup_next = -1;
  signal_all(SIGTERM);
  for (int j = 0; j < M.nls; j++) {
    if (M.ls[j].fds == NULL) continue;
    close_fds(M.ls[j].fds, M.n);
    free(M.ls[j].fds);
    M.ls[j].fds = NULL;
  }
}

/* Start a process for slot s (a HUP replacement if 'fresh'). A failure
** to start is a death at start. */
static void on_death_of(int s, int early, const char *why);

static void spawn(int s, int fresh) {
  int i;
  for (i = 0; i < 2 * M.n && M.procs[i].pid; i++) {}
  if (i == 2 * M.n) return;  /* cannot happen: at most two per slot */
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    on_death_of(s, 1, strerror(errno));
    return;
  }
  snprintf(M.env_slot, sizeof M.env_slot, "%s=%d", GL_WORKER_ENV, s + 1);
  snprintf(M.env_fd, sizeof M.env_fd, "%s=%d", GL_MASTER_FD_ENV, sv[1]);
  M.envp[M.envn] = M.env_slot;
  M.envp[M.envn + 1] = M.env_fd;
  pid_t master = getpid();
  pid_t pid = fork();
  if (pid == 0) {  /* only async-signal-safe calls from here to execve */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != master) _exit(127);
    setsid();
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0 && fd != 0) {
      dup2(fd, 0);
      close(fd);
    }
    fcntl(sv[1], F_SETFD, 0);  /* the one fd of ours it inherits */
    execve("/proc/self/exe", M.argv, M.envp);
    static const char msg[] = "greenlua: workers: cannot run /proc/self/exe\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(127);
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    on_death_of(s, 1, strerror(errno));
    return;
  }
  proc *p = &M.procs[i];
  memset(p, 0, sizeof *p);
  p->pid = pid;
  p->slot = s;
  p->ctl = sv[0];
  p->started = now();
  if (fresh) M.slots[s].fresh = i;
  else M.slots[s].cur = i;
}

static void next_hup(void) {
  if (++M.hup_next < M.n) return;
  M.hup_next = M.hup_again ? 0 : -1;
  M.hup_again = 0;
}

/* A fresh process that listened (or ran READY_AFTER) replaces its slot's. */
static void on_ready(int i) {
  proc *p = &M.procs[i];
  if (p->ready) return;
  p->ready = 1;
  slot *sl = &M.slots[p->slot];
  if (sl->fresh != i) return;
  int old = sl->cur;
  sl->cur = i;
  sl->fresh = -1;
  if (old >= 0) {
    M.procs[old].retiring = 1;
    kill(M.procs[old].pid, SIGTERM);
  }
  if (M.hup_next == p->slot) next_hup();
}

/* Slot s lost a process (or could not start one): count it, then give up
** or schedule its restart. */
static void on_death_of(int s, int early, const char *why) {
  slot *sl = &M.slots[s];
  sl->streak = early ? sl->streak + 1 : 0;
  if (sl->streak >= GIVE_UP) {
    fprintf(stderr, "greenlua: workers: worker %d died %d times in a row within %g s of its start"
            " (last: %s); stopping\n", s + 1, sl->streak, EARLY, why);
    M.failed = 1;
    stop_all();
    return;
  }
  if (sl->cur >= 0 && sl->fresh >= 0) return;  /* both alive: nothing to start */
  if (sl->cur < 0 && sl->fresh >= 0) return;   /* the fresh one takes the slot when ready */
  double delay = RESTART_MIN;
  for (int k = 1; k < sl->streak && delay < RESTART_MAX; k++) delay *= 2;
  if (delay > RESTART_MAX) delay = RESTART_MAX;
  sl->restart_at = now() + delay;
  sl->restart_fresh = sl->cur >= 0;  /* the current one lives: a HUP's replacement died */
  fprintf(stderr, "greenlua: workers: worker %d %s; restarting in %.1f s\n", s + 1, why, delay);
}

static void reap(pid_t pid, int status) {
  int i;
  for (i = 0; i < 2 * M.n && M.procs[i].pid != pid; i++) {}
  if (i == 2 * M.n) return;
  proc *p = &M.procs[i];
  int s = p->slot, retiring = p->retiring;
  double lived = now() - p->started;
  if (p->ctl >= 0) close(p->ctl);
  memset(p, 0, sizeof *p);
  p->ctl = -1;
  if (M.slots[s].cur == i) M.slots[s].cur = -1;
  if (M.slots[s].fresh == i) M.slots[s].fresh = -1;
  int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (M.stopping) {
    if (!clean) M.all_ok = 0;
    return;
  }
  if (retiring) return;
  char why[96];
  if (WIFSIGNALED(status))
    snprintf(why, sizeof why, "(pid %d) was killed by signal %d", (int)pid, WTERMSIG(status));
  else
    snprintf(why, sizeof why, "(pid %d) exited with status %d", (int)pid, WEXITSTATUS(status));
  on_death_of(s, lived < EARLY, why);
}

/* Restarts that are due, the HUP replacement to start, fresh processes
** ready by time. Returns the poll timeout (ms) until the next of them. */
static int tick(void) {
  double t = now(), next = -1;
  if (M.stopping) return -1;
  for (int s = 0; s < M.n; s++) {
    slot *sl = &M.slots[s];
    if (sl->restart_at && t >= sl->restart_at) {
      sl->restart_at = 0;
      spawn(s, sl->restart_fresh && sl->cur >= 0);
      if (M.stopping) return -1;
    }
  }
  while (M.hup_next >= 0) {
    slot *sl = &M.slots[M.hup_next];
    if (sl->fresh >= 0 || sl->restart_at) break;  /* under way */
    if (sl->cur < 0) {  /* being restarted anyway: it runs the script afresh */
      next_hup();
      continue;
    }
    spawn(M.hup_next, 1);
    break;
  }
  for (int i = 0; i < 2 * M.n; i++) {
    proc *p = &M.procs[i];
    if (!p->pid || p->ready) continue;
    if (t - p->started >= READY_AFTER) on_ready(i);
    else if (next < 0 || p->started + READY_AFTER < next) next = p->started + READY_AFTER;
  }
  for (int s = 0; s < M.n; s++) {
    double r = M.slots[s].restart_at;
    if (r && (next < 0 || r < next)) next = r;
  }
  if (next < 0) return -1;
  double ms = (next - t) * 1000 + 1;
  return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

static void on_signals(void) {
  char sigs[64];
  ssize_t r = read(M.sigpipe[0], sigs, sizeof sigs);
  for (ssize_t k = 0; k < r; k++) {
    int sig = (unsigned char)sigs[k];
    if (sig == SIGCHLD) {
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) reap(pid, status);
    } else if (sig == SIGTERM || sig == SIGINT) {
      stop_all();  /* a second one: TERM again, the workers then skip their wait */
    } else if (sig == SIGHUP && !M.stopping) {
      if (M.hup_next < 0) M.hup_next = 0;
      else M.hup_again = 1;
    } else if (sig == SIGQUIT) {
      signal_all(SIGQUIT);
    }
  }
}

/* The environment minus our two variables, with room for them. */
static int make_env(void) {
  extern char **environ;
  int k = 0;
  for (char **e = environ; *e; e++) k++;
  M.envp = calloc(k + 3, sizeof *M.envp);
  if (M.envp == NULL) return -1;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, GL_WORKER_ENV "=", sizeof GL_WORKER_ENV) == 0
        || strncmp(*e, GL_MASTER_FD_ENV "=", sizeof GL_MASTER_FD_ENV) == 0) continue;
    M.envp[M.envn++] = *e;
  }
  return 0;
}

int gl_workers_main(int n, char **argv) {
  memset(&M, 0, sizeof M);
  M.n = n;
  M.argv = argv;
  M.all_ok = 1;
  M.hup_next = -1;
  /* fds 0-2 open, so no socket of ours takes their numbers */
  int spare = open("/dev/null", O_RDWR);
  while (spare >= 0 && spare <= 2) spare = open("/dev/null", O_RDWR);
  if (spare >= 0) close(spare);
  M.procs = calloc(2 * n, sizeof *M.procs);
  M.slots = calloc(n, sizeof *M.slots);
  struct pollfd *pfd = calloc(2 * n + 1, sizeof *pfd);
  int *who = calloc(2 * n + 1, sizeof *who);
  if (!M.procs || !M.slots || !pfd || !who || make_env() < 0
      || pipe2(M.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    fprintf(stderr, "greenlua: workers: cannot start: %s\n", strerror(errno ? errno : ENOMEM));
    return EXIT_FAILURE;
  }
  for (int i = 0; i < 2 * n; i++) M.procs[i].ctl = -1;
  int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT };
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) catch(sigs[k]);
  /* SIGPIPE: main.c catches it (reset to the default at exec, unlike an
  ** ignored one); sendmsg uses MSG_NOSIGNAL anyway. */
  for (int s = 0; s < n; s++) {
    M.slots[s].cur = M.slots[s].fresh = -1;
    spawn(s, 0);
  }
  for (;;) {
    int timeout = tick();
    if (M.stopping && live() == 0) break;
    int k = 0;
    pfd[k].fd = M.sigpipe[0];
    pfd[k].events = POLLIN;
    who[k++] = -1;
    for (int i = 0; i < 2 * n; i++) {
      if (!M.procs[i].pid || M.procs[i].ctl < 0) continue;
      pfd[k].fd = M.procs[i].ctl;
      pfd[k].events = POLLIN;
      who[k++] = i;
    }
    if (poll(pfd, k, timeout) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "greenlua: workers: poll: %s\n", strerror(errno));
      M.failed = 1;
      stop_all();
      continue;
    }
    for (int j = 1; j < k; j++)
      if (pfd[j].revents && M.procs[who[j]].ctl == pfd[j].fd) on_control(who[j]);
    if (pfd[0].revents) on_signals();
  }
  free(pfd);
  free(who);
  return M.failed || !M.all_ok ? EXIT_FAILURE : EXIT_SUCCESS;
}
