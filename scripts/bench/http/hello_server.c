/*
** hello_server.c: the C baseline of the HTTP benchmarks: a minimal libuv
** server parsing requests with llhttp (Debian's node-llhttp, the parser
** greenlua uses) and answering every one with the hello-world bytes of
** green.wsgi:
**   HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n
**   Date: <now>\r\n\r\nHello, World!
** The Date is rebuilt once a second at most. Connections are kept alive as
** llhttp_should_keep_alive says; a request that does not allow it gets its
** answer and the connection closes. Pipelining: every request parsed from
** one read appends its answer to the connection's output, written at once
** after the read (in order, one write for the batch); while output waits
** for the kernel, reading stops. Parse errors close the connection (a
** baseline needs no error page). It collects nothing from the request
** (no URL, no headers): the least work a server built on llhttp can do.
**
** usage: hello_server [PORT]    (default 0: any free port)
** Listens on 127.0.0.1, prints the port as its first line of output.
*/
#include "../netbench.h"
#include <signal.h>
#include <time.h>
#include <llhttp.h>

#define PREFIX "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: "
#define DATE_LEN 29  /* "Tue, 01 Dec 2026 23:14:23 GMT" */
#define SUFFIX "\r\n\r\nHello, World!"
#define RESP_LEN (sizeof PREFIX - 1 + DATE_LEN + sizeof SUFFIX - 1)

typedef struct conn {
  uv_tcp_t tcp;
  llhttp_t parser;
  uv_write_t wreq;
  char *out;           /* answers waiting to be written */
  size_t out_len, out_cap;
  int reading, writing, close_after;
} conn;

static uv_loop_t *loop;
static uv_tcp_t server;
static llhttp_settings_t settings;
static char rbuf[64 * 1024];       /* libuv reads here (one thread, one loop) */
static char response[RESP_LEN + 32];  /* room the compiler cannot prove unneeded */
static time_t response_sec = -1;

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* The answer with the current Date, rebuilt when the second changes. */
static const char *current_response(void) {
  time_t now = time(NULL);
  if (now != response_sec) {
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(response, sizeof response, "%s%s, %02d %s %04d %02d:%02d:%02d GMT%s", PREFIX,
             days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec, SUFFIX);
    response_sec = now;
  }
  return response;
}

static void on_closed(uv_handle_t *h) {
  conn *c = h->data;
  free(c->out);
  free(c);
}

static void conn_close(conn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h, (void)suggested;
  buf->base = rbuf;
  buf->len = sizeof rbuf;
}

static int on_message_complete(llhttp_t *p) {
  conn *c = p->data;
  if (c->out_len + RESP_LEN > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap * 2 : 4 * RESP_LEN;
    while (cap < c->out_len + RESP_LEN) cap *= 2;
    char *out = realloc(c->out, cap);
    if (out == NULL) return -1;
    c->out = out;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, current_response(), RESP_LEN);
  c->out_len += RESP_LEN;
  if (!llhttp_should_keep_alive(p)) {
    c->close_after = 1;
    return HPE_PAUSED;  /* whatever follows is not read */
  }
  return 0;
}

/* The queued rest of the output is out: read again (or close). */
static void on_written(uv_write_t *req, int status) {
  conn *c = req->data;
  c->writing = 0;
  c->out_len = 0;
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  if (status < 0 || c->close_after) {
    conn_close(c);
    return;
  }
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
  else conn_close(c);
}

/* Write the answers gathered from one read: straight to the kernel if it
** takes them all, else the rest from c->out (untouched until written, as
** reading stops meanwhile). */
static void flush(conn *c) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (c->out_len == 0) return;
  uv_buf_t b = uv_buf_init(c->out, (unsigned)c->out_len);
  int sent = uv_try_write(s, &b, 1);
  if (sent == UV_EAGAIN) sent = 0;
  if (sent < 0) {
    conn_close(c);
    return;
  }
  if ((size_t)sent == c->out_len) {
    c->out_len = 0;
    if (c->close_after) conn_close(c);
    return;
  }
  memmove(c->out, c->out + sent, c->out_len - (size_t)sent);
  c->out_len -= (size_t)sent;
  if (c->reading) {
    uv_read_stop(s);
    c->reading = 0;
  }
  b = uv_buf_init(c->out, (unsigned)c->out_len);
  c->wreq.data = c;
  c->writing = 1;
  if (uv_write(&c->wreq, s, &b, 1, on_written) != 0) {
    c->writing = 0;
    conn_close(c);
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n == 0) return;
  if (n < 0) {
    conn_close(c);
    return;
  }
  llhttp_errno_t err = llhttp_execute(&c->parser, buf->base, (size_t)n);
  if (err != HPE_OK && err != HPE_PAUSED) c->close_after = 1;  /* answer what was whole */
  if (c->close_after && c->reading) {
    uv_read_stop(s);
    c->reading = 0;
  }
  flush(c);
  if (c->close_after && !c->writing) conn_close(c);
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0) return;
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) die("hello_server: out of memory");
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  llhttp_init(&c->parser, HTTP_REQUEST, &settings);
  c->parser.data = c;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
  else conn_close(c);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  signal(SIGPIPE, SIG_IGN);
  llhttp_settings_init(&settings);
  settings.on_message_complete = on_message_complete;
  loop = uv_default_loop();
  check_uv(uv_ip4_addr("127.0.0.1", port, &addr), "uv_ip4_addr");
  check_uv(uv_tcp_init(loop, &server), "uv_tcp_init");
  check_uv(uv_tcp_bind(&server, (struct sockaddr *)&addr, 0), "bind");
  check_uv(uv_listen((uv_stream_t *)&server, 1024, on_connection), "listen");
  check_uv(uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len), "getsockname");
  printf("%d\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
