/* native_gather.c — the native C baseline of the embedding-bag forward (sum, no weights),
 * for the "within 1.5× of native C gather" target of issue 4. bench/run.ts compiles it with
 * the system's cc (-O3 -march=native) when one exists and skips it otherwise.
 *
 *   native_gather R E B perBag rounds  →  prints the best GB/s
 *
 * Same work and the same byte count as bench/embedding_bag.bench.ts:
 *   L·E·4 gathered + B·E·4 written + L·4 indices + (B+1)·4 offsets, L = B·perBag.
 * Glossary: R table rows, E row length, B bags, L lookups. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bag_sum(int B, int E, const float *table, const int32_t *indices, const int32_t *offsets, float *out) {
  for (int b = 0; b < B; b++) {
    float *o = out + (size_t)b * E;
    memset(o, 0, sizeof(float) * E);
    for (int l = offsets[b]; l < offsets[b + 1]; l++) {
      const float *row = table + (size_t)indices[l] * E;
      for (int e = 0; e < E; e++) o[e] += row[e];
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: native_gather R E B perBag rounds\n");
    return 2;
  }
  const long R = atol(argv[1]);
  const int E = atoi(argv[2]), B = atoi(argv[3]), perBag = atoi(argv[4]), rounds = atoi(argv[5]);
  const long L = (long)B * perBag;
  float *table = malloc(sizeof(float) * R * E);
  int32_t *indices = malloc(sizeof(int32_t) * L);
  int32_t *offsets = malloc(sizeof(int32_t) * (B + 1));
  float *out = malloc(sizeof(float) * (size_t)B * E);
  if (!table || !indices || !offsets || !out) return 1;
  srand(1);
  for (long i = 0; i < R * E; i++) table[i] = (float)rand() / RAND_MAX - 0.5f;
  for (long l = 0; l < L; l++) indices[l] = (int32_t)(((uint64_t)rand() * RAND_MAX + rand()) % R);
  for (int b = 0; b <= B; b++) offsets[b] = b * perBag;
  const double bytes = 4.0 * (L * E + (double)B * E + L + B + 1);
  double best = 0, check = 0;
  for (int r = 0; r < rounds; r++) {
    /* each round: repeat the call for at least 50 ms */
    int n = 0;
    const double t0 = now();
    double t;
    do {
      bag_sum(B, E, table, indices, offsets, out);
      n++;
      t = now();
    } while (t - t0 < 0.05);
    const double rate = n * bytes / (t - t0) / 1e9;
    if (rate > best) best = rate;
    check += out[0];
  }
  printf("%.3f %g\n", best, check); /* the checksum keeps the work from being dropped */
  return 0;
}
