/*
 * A stand-in for a slow SD card (test/helpers/slow-card.ts compiles it; LD_PRELOAD loads it into a
 * gateway child). No SD card, and no device-mapper (dm-delay), exists where the tests run, so this
 * interposes fsync and fdatasync (what LevelDB, node's fs and the export files call: strace shows
 * no sync_file_range) and sleeps before calling the real one. The real call still happens, so what
 * is acknowledged after it is as durable as without the shim.
 *
 * A card serves one command at a time: one flush's delay holds every other flush behind it (a mutex
 * across the delay and the real call).
 *
 * Environment (all optional):
 *   GH_SLOWCARD_BASE_MS     every flush takes this long (ms, may be fractional), default 0
 *   GH_SLOWCARD_SPIKE_MS    a spike (wear levelling, garbage collection) adds this, default 0
 *   GH_SLOWCARD_SPIKE_EVERY one flush in this many is a spike on average (chosen by a PRNG), default 0 = none
 *   GH_SLOWCARD_SEED        the PRNG's seed (deterministic), default 1
 *   GH_SLOWCARD_STALL_FILE  while this file exists, every flush waits (a stall of the card) until it
 *                           is removed: the test or bench decides when a stall starts and ends
 *   GH_SLOWCARD_COUNT_FILE  a flush's count and its delay summed are written there (pwrite, not
 *                           synced) after each flush: how many flushes the gateway made
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t card = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static double base_ms, spike_ms;
static unsigned long spike_every;
static uint64_t rng;
static const char *stall_file;
static const char *count_file;
static unsigned long flushes;
static double delayed_ms;

static double env_num(const char *name) {
  const char *v = getenv(name);
  return v ? strtod(v, NULL) : 0;
}

static void init(void) {
  real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  base_ms = env_num("GH_SLOWCARD_BASE_MS");
  spike_ms = env_num("GH_SLOWCARD_SPIKE_MS");
  spike_every = (unsigned long)env_num("GH_SLOWCARD_SPIKE_EVERY");
  const char *seed = getenv("GH_SLOWCARD_SEED");
  rng = seed ? strtoull(seed, NULL, 10) : 1;
  if (rng == 0) rng = 1;
  stall_file = getenv("GH_SLOWCARD_STALL_FILE");
  count_file = getenv("GH_SLOWCARD_COUNT_FILE");
}

/* xorshift64: the same spikes for the same seed and the same sequence of flushes. */
static uint64_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void sleep_ms(double ms) {
  if (ms <= 0) return;
  struct timespec t = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
  while (nanosleep(&t, &t) != 0) {
  }
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000 + (double)t.tv_nsec / 1e6;
}

/* Called with the card's mutex held. */
static void delay(void) {
  double t0 = now_ms();
  double ms = base_ms;
  if (spike_every > 0 && next_random() % spike_every == 0) ms += spike_ms;
  sleep_ms(ms);
  if (stall_file)
    while (access(stall_file, F_OK) == 0) sleep_ms(5);
  flushes++;
  delayed_ms += now_ms() - t0;
}

static void count(void) {
  if (!count_file) return;
  char line[64];
  int n = snprintf(line, sizeof line, "%lu %.0f\n", flushes, delayed_ms);
  int fd = open(count_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (pwrite(fd, line, (size_t)n, 0) == n && ftruncate(fd, n) == 0) {
  }
  close(fd);
}

static int flush(int (*real)(int), int fd) {
  pthread_once(&once, init);
  pthread_mutex_lock(&card);
  delay();
  int r = real(fd);
  int err = errno; /* the real call's, not the count file's */
  count();
  pthread_mutex_unlock(&card);
  errno = err;
  return r;
}

int fsync(int fd) {
  pthread_once(&once, init);
  return flush(real_fsync, fd);
}

int fdatasync(int fd) {
  pthread_once(&once, init);
  return flush(real_fdatasync, fd);
}
