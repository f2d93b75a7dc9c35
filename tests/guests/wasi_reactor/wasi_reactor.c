/* A WASI reactor (wasi-libc's reactor crt1): exports _initialize, which runs its constructors,
 * and run(n). On a correct host _initialize has run exactly once before run, which prints
 * "reactor run n=<n> initialized=1" to stdout and returns (the process ends normally). */
#include <stdint.h>
#include <stdio.h>

static int initialized = 0;

__attribute__((constructor)) static void initialize(void) { ++initialized; }

__attribute__((export_name("run"))) void run(int32_t n) {
  printf("reactor run n=%d initialized=%d\n", (int)n, initialized);
}
