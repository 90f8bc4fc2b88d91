/*
** spawn_loop.c: the C reference for the process bench: N times
** posix_spawn("true") + waitpid, as fast as C does it. Prints the
** seconds taken. Usage: spawn_loop N [path-to-true]
*/
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  char *prog = argc > 2 ? argv[2] : "true";
  char *args[] = {prog, NULL};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) {
    pid_t pid;
    int status;
    if (posix_spawnp(&pid, prog, NULL, NULL, args, environ) != 0) {
      perror("posix_spawnp");
      return 1;
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "spawn_loop: %s failed\n", prog);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.6f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
  return 0;
}
