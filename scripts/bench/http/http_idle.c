/*
** http_idle.c: the client of "N idle keep-alive connections": opens N
** connections to an HTTP server, sends one GET on each and reads its whole
** answer (parsed with llhttp), then leaves every connection open and idle.
** Before the first of them, one warm-up connection does a request and
** closes (the server's one-time costs, such as code paths run for the first
** time, are not per connection), then 0.2 s pass and the server's VmRSS is
** read; once all N answers are in, 0.3 s pass and it is read again. Prints
**   <bytes per connection> <bytes in all> <connections>
** ((VmRSS after - VmRSS before) / N) and exits, closing them all.
**
** usage: http_idle -c N -P SERVER_PID [-d SECONDS] [-k IN_FLIGHT] HOST PORT
**   -d  give up after this long (default 30 s)
**   -k  at most this many connections connecting or waiting for their
**       answer at once (default 200: the listen backlogs stay small)
*/
#include "../netbench.h"
#include <signal.h>
#include <llhttp.h>

typedef struct conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  llhttp_t parser;
  int done;
} conn;

static uv_loop_t *loop;
static uv_timer_t timer;
static llhttp_settings_t settings;
static struct sockaddr_storage addr;
static char rbuf[64 * 1024];
static char request[256];
static const char *server_pid;
static int nconns = 0, in_flight_max = 200, started, in_flight, held, warmup_done;
static double seconds = 30;
static long long rss0;

static void start_conn(void);

static void fail(const char *what, int err) {
  die("http_idle: %s: %s (%d of %d connections held)", what, uv_strerror(err), held, nconns);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h, (void)suggested;
  buf->base = rbuf;
  buf->len = sizeof rbuf;
}

static void on_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_measured(uv_timer_t *t) {
  (void)t;
  long long rss1 = nb_rss(server_pid);
  if (rss0 < 0 || rss1 < 0) die("http_idle: cannot read VmRSS of %s", server_pid);
  printf("%.1f %lld %d\n", (double)(rss1 - rss0) / nconns, rss1 - rss0, held);
  fflush(stdout);
  exit(0);
}

static void on_warm(uv_timer_t *t) {
  (void)t;
  rss0 = nb_rss(server_pid);
  for (int k = 0; k < nconns && k < in_flight_max; k++) start_conn();
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  die("http_idle: %d of %d connections held after %.0f s", held, nconns, seconds);
}

static int on_message_complete(llhttp_t *p) {
  conn *c = p->data;
  c->done = 1;
  return 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n == 0) return;
  if (n < 0) fail(c->done ? "an idle connection closed" : "read", (int)n);
  if (c->done) die("http_idle: bytes after the answer");
  llhttp_errno_t err = llhttp_execute(&c->parser, buf->base, (size_t)n);
  if (err != HPE_OK) die("http_idle: bad answer: %s", llhttp_errno_name(err));
  if (!c->done) return;
  if (c->parser.status_code != 200) die("http_idle: status %d", c->parser.status_code);
  in_flight--;
  if (!warmup_done) {  /* the warm-up connection: close it, let the server settle */
    warmup_done = 1;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    static uv_timer_t settle;
    uv_timer_init(loop, &settle);
    uv_timer_start(&settle, on_warm, 200, 0);
    return;
  }
  held++;  /* stays open, still reading: a close by the server is an error */
  if (held == nconns) {
    static uv_timer_t after;
    uv_timer_init(loop, &after);
    uv_timer_start(&after, on_measured, 300, 0);
  } else if (started < nconns + 1) {
    start_conn();
  }
}

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->data;
  if (status < 0) fail("connect", status);
  uv_buf_t b = uv_buf_init(request, (unsigned)strlen(request));
  int sent = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (sent != (int)b.len) fail("write", sent < 0 ? sent : UV_EAGAIN);
  int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (err) fail("read_start", err);
}

static void start_conn(void) {
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) die("http_idle: out of memory");
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->creq.data = c;
  llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
  c->parser.data = c;
  started++;
  in_flight++;
  int err = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&addr, on_connect);
  if (err) fail("connect", err);
}

static void usage(void) {
  die("usage: http_idle -c N -P SERVER_PID [-d SECONDS] [-k IN_FLIGHT] HOST PORT");
}

int main(int argc, char **argv) {
  int i;
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    if (i + 1 >= argc) usage();
    const char *o = argv[i], *v = argv[++i];
    if (strcmp(o, "-c") == 0) nconns = atoi(v);
    else if (strcmp(o, "-P") == 0) server_pid = v;
    else if (strcmp(o, "-d") == 0) seconds = atof(v);
    else if (strcmp(o, "-k") == 0) in_flight_max = atoi(v);
    else usage();
  }
  if (argc - i != 2 || nconns < 1 || server_pid == NULL || seconds <= 0 || in_flight_max < 1)
    usage();
  const char *host = argv[i];
  int port = atoi(argv[i + 1]);
  signal(SIGPIPE, SIG_IGN);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0)
    die("http_idle: not a numeric IPv4 address: %s", host);
  snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n", host, port);
  llhttp_settings_init(&settings);
  settings.on_message_complete = on_message_complete;
  loop = uv_default_loop();
  uv_timer_init(loop, &timer);
  uv_timer_start(&timer, on_deadline, (uint64_t)(seconds * 1000), 0);
  start_conn();  /* the warm-up one */
  uv_run(loop, UV_RUN_DEFAULT);
  die("http_idle: the loop ended early");
  return 1;
}
