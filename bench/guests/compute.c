/* The program of compute_bench, built three ways from this one file: for wasm32-wasi as a WASI
 * command (bench_compute.wasm, run by the engine and by Node.js) and natively with gcc -O2
 * (bench_compute_native). Plain C11 and libc only: clock_gettime, printf, malloc.
 *
 *   bench_compute sha256 <MiB> <warm-up rounds> <timed rounds>
 *       Each round hashes a 1 MiB buffer <MiB> times with SHA-256 (FIPS 180-4), every hash
 *       chained to the previous digest (written over the buffer's first 32 bytes), so no hash
 *       can be skipped or hoisted.
 *   bench_compute nbody <steps> <warm-up rounds> <timed rounds>
 *       Each round starts the five-body Jovian system of the Computer Language Benchmarks Game
 *       afresh and advances it <steps> steps of 0.01 (double precision, sqrt).
 *
 * Prints, per round, one line
 *     round <i> <warmup|timed> <workload> ns=<monotonic ns of the round> check=<result>
 * where check is the final digest's first 8 bytes (hex) or the system's energy (%.9f): equal in
 * every round and every build, which compute_bench checks. Then "done", and exits 0. Usage errors
 * exit 2. The clock read needs TimeRead in the engine. Each round is one call of a function that
 * is never inlined, so an engine that swaps in optimised code between calls runs a round on it.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- SHA-256 ------------------------------------------------------------------------------ */

static const uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static uint32_t loadBigEndian(const uint8_t* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void storeBigEndian(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* One 64-byte block into the state. */
static void compress(uint32_t state[8], const uint8_t block[64]) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) w[i] = loadBigEndian(block + 4 * i);
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    uint32_t choice = (e & f) ^ (~e & g);
    uint32_t t1 = h + s1 + choice + kRoundConstants[i] + w[i];
    uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
    uint32_t t2 = s0 + majority;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

static void sha256(const uint8_t* data, size_t length, uint8_t digest[32]) {
  uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  size_t whole = length / 64 * 64;
  for (size_t i = 0; i < whole; i += 64) compress(state, data + i);
  /* Padding: 0x80, zeros, the length in bits (big-endian) in the last 8 bytes. */
  uint8_t tail[128];
  size_t rest = length - whole;
  memset(tail, 0, sizeof tail);
  memcpy(tail, data + whole, rest);
  tail[rest] = 0x80;
  size_t tail_length = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)length * 8;
  for (int i = 0; i < 8; ++i) tail[tail_length - 1 - i] = (uint8_t)(bits >> (8 * i));
  for (size_t i = 0; i < tail_length; i += 64) compress(state, tail + i);
  for (int i = 0; i < 8; ++i) storeBigEndian(digest + 4 * i, state[i]);
}

enum { kBufferBytes = 1 << 20 };

/* The buffer the sha256 rounds hash, the same bytes in every build and round. */
static uint8_t* g_buffer;

static void fillBuffer(void) {
  uint32_t x = 2463534242u; /* xorshift32 */
  for (size_t i = 0; i < kBufferBytes; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    g_buffer[i] = (uint8_t)x;
  }
}

__attribute__((noinline)) static void sha256Round(long mib, char* check, size_t check_size) {
  fillBuffer();
  uint8_t digest[32];
  for (long i = 0; i < mib; ++i) {
    sha256(g_buffer, kBufferBytes, digest);
    memcpy(g_buffer, digest, sizeof digest);
  }
  for (int i = 0; i < 8 && 2 * i + 2 < (int)check_size; ++i) {
    snprintf(check + 2 * i, 3, "%02x", digest[i]);
  }
}

/* ---- n-body ------------------------------------------------------------------------------- */

enum { kBodies = 5 };

struct Body {
  double x, y, z, vx, vy, vz, mass;
};

#define PI 3.141592653589793
static const double kSolarMass = 4 * PI * PI;
static const double kDaysPerYear = 365.24;

static void initialSystem(struct Body bodies[kBodies]) {
  const struct Body start[kBodies] = {
      /* Sun */
      {0, 0, 0, 0, 0, 0, kSolarMass},
      /* Jupiter */
      {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
       1.66007664274403694e-03 * kDaysPerYear, 7.69901118419740425e-03 * kDaysPerYear,
       -6.90460016972063023e-05 * kDaysPerYear, 9.54791938424326609e-04 * kSolarMass},
      /* Saturn */
      {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
       -2.76742510726862411e-03 * kDaysPerYear, 4.99852801234917238e-03 * kDaysPerYear,
       2.30417297573763929e-05 * kDaysPerYear, 2.85885980666130812e-04 * kSolarMass},
      /* Uranus */
      {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
       2.96460137564761618e-03 * kDaysPerYear, 2.37847173959480950e-03 * kDaysPerYear,
       -2.96589568540237556e-05 * kDaysPerYear, 4.36624404335156298e-05 * kSolarMass},
      /* Neptune */
      {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
       2.68067772490389322e-03 * kDaysPerYear, 1.62824170038242295e-03 * kDaysPerYear,
       -9.51592254519715870e-05 * kDaysPerYear, 5.15138902046611451e-05 * kSolarMass},
  };
  memcpy(bodies, start, sizeof start);
  /* Offset the Sun's momentum so the system's total is zero. */
  double px = 0, py = 0, pz = 0;
  for (int i = 0; i < kBodies; ++i) {
    px += bodies[i].vx * bodies[i].mass;
    py += bodies[i].vy * bodies[i].mass;
    pz += bodies[i].vz * bodies[i].mass;
  }
  bodies[0].vx = -px / kSolarMass;
  bodies[0].vy = -py / kSolarMass;
  bodies[0].vz = -pz / kSolarMass;
}

static void advance(struct Body bodies[kBodies], double dt) {
  for (int i = 0; i < kBodies; ++i) {
    struct Body* a = &bodies[i];
    for (int j = i + 1; j < kBodies; ++j) {
      struct Body* b = &bodies[j];
      double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
      double distance2 = dx * dx + dy * dy + dz * dz;
      double magnitude = dt / (distance2 * sqrt(distance2));
      a->vx -= dx * b->mass * magnitude;
      a->vy -= dy * b->mass * magnitude;
      a->vz -= dz * b->mass * magnitude;
      b->vx += dx * a->mass * magnitude;
      b->vy += dy * a->mass * magnitude;
      b->vz += dz * a->mass * magnitude;
    }
  }
  for (int i = 0; i < kBodies; ++i) {
    bodies[i].x += dt * bodies[i].vx;
    bodies[i].y += dt * bodies[i].vy;
    bodies[i].z += dt * bodies[i].vz;
  }
}

static double energy(const struct Body bodies[kBodies]) {
  double e = 0;
  for (int i = 0; i < kBodies; ++i) {
    const struct Body* a = &bodies[i];
    e += 0.5 * a->mass * (a->vx * a->vx + a->vy * a->vy + a->vz * a->vz);
    for (int j = i + 1; j < kBodies; ++j) {
      const struct Body* b = &bodies[j];
      double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
      e -= a->mass * b->mass / sqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

/* The bodies live in linear memory (a static), as a real program's state would. */
static struct Body g_bodies[kBodies];

__attribute__((noinline)) static void nbodyRound(long steps, char* check, size_t check_size) {
  initialSystem(g_bodies);
  for (long i = 0; i < steps; ++i) advance(g_bodies, 0.01);
  snprintf(check, check_size, "%.9f", energy(g_bodies));
}

/* ---- driver ------------------------------------------------------------------------------- */

static int64_t nowNanos(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    fprintf(stderr, "clock_gettime failed\n");
    exit(1);
  }
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s sha256|nbody <work> <warm-up rounds> <timed rounds>\n", argv[0]);
    return 2;
  }
  const char* workload = argv[1];
  long work = atol(argv[2]);
  int warmup = atoi(argv[3]);
  int timed = atoi(argv[4]);
  void (*round)(long, char*, size_t);
  if (strcmp(workload, "sha256") == 0) {
    round = sha256Round;
    g_buffer = malloc(kBufferBytes);
    if (g_buffer == NULL) return 1;
  } else if (strcmp(workload, "nbody") == 0) {
    round = nbodyRound;
  } else {
    fprintf(stderr, "unknown workload %s\n", workload);
    return 2;
  }
  if (work < 1 || warmup < 0 || timed < 1) {
    fprintf(stderr, "work and timed rounds must be positive\n");
    return 2;
  }
  for (int i = 0; i < warmup + timed; ++i) {
    char check[32] = "";
    int64_t start = nowNanos();
    round(work, check, sizeof check);
    int64_t ns = nowNanos() - start;
    printf("round %d %s %s ns=%lld check=%s\n", i, i < warmup ? "warmup" : "timed", workload,
           (long long)ns, check);
    fflush(stdout);
  }
  printf("done\n");
  return 0;
}
