/* An ordinary C program built as a WASI command (wasi-libc's crt1: _start calls main): printf,
 * fprintf(stderr), malloc, clock_gettime, getentropy, getenv, argc/argv, exit. Every result is
 * printed, one `key=value` line each, so tests can check it. What it prints on a correct host
 * (argv[1] picks a mode; the default mode ends with exit(3)):
 *
 *   default   stdout: "hello from wasi", "argc=<n>", "argv[<i>]=<arg>" for each,
 *             "stdin=eof", "malloc=ok", "realtime rc=0 errno=0 sec=<s>" (or rc=-1 errno=76
 *             without TimeRead), "monotonic rc=... errno=...", "entropy rc=0 nonzero=1 differs=1",
 *             "GREETING=<value or (unset)>", "environ=<count>", "usleep rc=-1 errno=58" (would
 *             block), "fsync rc=-1 errno=52" twice (not implemented), "bye"; stderr: "to stderr
 *             argc=<n>"; then exit(3).
 *   long      a 20000-byte line of 'x', then "tail" without a newline; main returns 0.
 *   trap      "before trap", then "unterminated" without a newline (flushed by libc), then traps.
 *   poll      poll() without waiting: "ready rc=<n> errno=<e> stdout=<revents> stdin=<revents>
 *             fd7=<revents>" for stdout POLLOUT, stdin POLLIN and unopened fd 7 with timeout 0
 *             (revents as letters: o POLLOUT, i POLLIN, h POLLHUP, n POLLNVAL, e POLLERR, - none),
 *             then "sleep rc=<n> errno=<e>" for poll(NULL, 0, 10), which would have to wait;
 *             main returns 0.
 *   bytes     stdout: the 256 byte values 0..255 in order, then "\r\n\n\r" (no final newline);
 *             stderr: "err\0\xff\r\n" then "\n\nend" (no final newline), each with one write(2)
 *             call per piece, unbuffered; main returns 0.
 *   exit N    exit(N) at once (N as atoi reads it), printing nothing.
 *   env       stdout: each environment entry as given, then "\n"; main returns 0.
 *   spin      stdout: "spinning\n", then loops forever without a hostcall (for stop/signal tests).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static void clockLine(const char* name, clockid_t id) {
  struct timespec ts = {0, 0};
  errno = 0;
  int rc = clock_gettime(id, &ts);
  printf("%s rc=%d errno=%d sec=%lld\n", name, rc, rc == 0 ? 0 : errno, (long long)ts.tv_sec);
}

static int modeLong(void) {
  char* line = malloc(20001);
  if (line == NULL) return 1;
  memset(line, 'x', 20000);
  line[20000] = '\0';
  puts(line);
  free(line);
  printf("tail");
  return 0;
}

static int modeTrap(void) {
  printf("before trap\n");
  printf("unterminated");
  fflush(stdout);
  __builtin_trap();
}

static const char* revents(short r) {
  static char text[4][8];
  static int next = 0;
  char* out = text[next++ % 4];
  char* p = out;
  if (r & POLLOUT) *p++ = 'o';
  if (r & POLLIN) *p++ = 'i';
  if (r & POLLHUP) *p++ = 'h';
  if (r & POLLNVAL) *p++ = 'n';
  if (r & POLLERR) *p++ = 'e';
  if (p == out) *p++ = '-';
  *p = '\0';
  return out;
}

static int modePoll(void) {
  struct pollfd fds[3] = {
      {.fd = 1, .events = POLLOUT}, {.fd = 0, .events = POLLIN}, {.fd = 7, .events = POLLIN}};
  errno = 0;
  int rc = poll(fds, 3, 0);
  printf("ready rc=%d errno=%d stdout=%s stdin=%s fd7=%s\n", rc, rc < 0 ? errno : 0,
         revents(fds[0].revents), revents(fds[1].revents), revents(fds[2].revents));
  errno = 0;
  rc = poll(NULL, 0, 10);
  printf("sleep rc=%d errno=%d\n", rc, rc < 0 ? errno : 0);
  return 0;
}

static int modeBytes(void) {
  unsigned char all[256];
  for (int i = 0; i < 256; ++i) all[i] = (unsigned char)i;
  if (write(1, all, sizeof all) != (ssize_t)sizeof all) return 1;
  if (write(1, "\r\n\n\r", 4) != 4) return 1;
  if (write(2, "err\0\xff\r\n", 7) != 7) return 1;
  if (write(2, "\n\nend", 5) != 5) return 1;
  return 0;
}

static int modeEnv(void) {
  for (char** e = environ; e != NULL && *e != NULL; ++e) printf("%s\n", *e);
  return 0;
}

static int modeSpin(void) {
  printf("spinning\n");
  fflush(stdout);
  volatile unsigned long n = 0;
  for (;;) ++n;  // volatile: the loop stays, and never yields
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "spin") == 0) return modeSpin();
  if (argc > 1 && strcmp(argv[1], "bytes") == 0) return modeBytes();
  if (argc > 2 && strcmp(argv[1], "exit") == 0) exit(atoi(argv[2]));
  if (argc > 1 && strcmp(argv[1], "env") == 0) return modeEnv();
  if (argc > 1 && strcmp(argv[1], "long") == 0) return modeLong();
  if (argc > 1 && strcmp(argv[1], "trap") == 0) return modeTrap();
  if (argc > 1 && strcmp(argv[1], "poll") == 0) return modePoll();

  printf("hello from wasi\n");
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; ++i) printf("argv[%d]=%s\n", i, argv[i]);
  fprintf(stderr, "to stderr argc=%d\n", argc);

  printf("stdin=%s\n", getchar() == EOF ? "eof" : "data");

  size_t size = 1 << 20;
  unsigned char* block = malloc(size);
  if (block != NULL) {
    memset(block, 0x5A, size);
    printf("malloc=%s\n", block[size - 1] == 0x5A ? "ok" : "corrupt");
    free(block);
  } else {
    printf("malloc=failed\n");
  }

  clockLine("realtime", CLOCK_REALTIME);
  clockLine("monotonic", CLOCK_MONOTONIC);

  unsigned char a[32], b[32];
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  int rc = getentropy(a, sizeof a);
  int rc2 = getentropy(b, sizeof b);
  int nonzero = 0;
  for (size_t i = 0; i < sizeof a; ++i) nonzero |= a[i] != 0;
  printf("entropy rc=%d nonzero=%d differs=%d\n", rc | rc2, nonzero, memcmp(a, b, sizeof a) != 0);

  const char* greeting = getenv("GREETING");
  printf("GREETING=%s\n", greeting != NULL ? greeting : "(unset)");
  int count = 0;
  for (char** e = environ; e != NULL && *e != NULL; ++e) ++count;
  printf("environ=%d\n", count);

  errno = 0;
  rc = usleep(1000);
  printf("usleep rc=%d errno=%d\n", rc, rc == 0 ? 0 : errno);
  for (int i = 0; i < 2; ++i) {
    errno = 0;
    rc = fsync(1);
    printf("fsync rc=%d errno=%d\n", rc, rc == 0 ? 0 : errno);
  }
  printf("bye\n");
  exit(3);
}
