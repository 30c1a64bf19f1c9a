/*
 * A card that fails writes under one path: an LD_PRELOAD shim that fails write, pwrite, writev
 * and the flushes (fsync, fdatasync) of the files whose path contains a given string with EIO,
 * while a flag file exists (the test decides when the fault starts and ends). No failing card
 * exists where the tests run; eio-read.c is its counterpart for reads. Compiled with gcc by the
 * test (test/integration/log-bounds-store-eio.test.ts); the child runs with UV_USE_IO_URING=0 so
 * that libuv's writes go through these calls (LevelDB's own thread calls them directly).
 *
 * Environment:
 *   GH_EIO_MATCH  a write or flush of a file whose path (/proc/self/fd/N) contains this string fails...
 *   GH_EIO_FLAG   ...while this file exists
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *match;
static const char *flag;

static int failing(int fd) {
  if (!match) match = getenv("GH_EIO_MATCH");
  if (!flag) flag = getenv("GH_EIO_FLAG");
  if (!match || !flag || !*match) return 0;
  int saved = errno;
  char link[64];
  char path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  int fail = 0;
  if (n > 0) {
    path[n] = '\0';
    fail = strstr(path, match) != NULL && access(flag, F_OK) == 0;
  }
  errno = saved;
  return fail;
}

/* The real call, looked up once (the next object's, libc's). */
#define REAL(name, type) \
  static type real_##name; \
  if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

#define FAIL_IF(fd) \
  if (failing(fd)) { \
    errno = EIO; \
    return -1; \
  }

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*sync_fn)(int);

ssize_t write(int fd, const void *buf, size_t count) {
  REAL(write, write_fn);
  FAIL_IF(fd);
  return real_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
  REAL(pwrite, pwrite_fn);
  FAIL_IF(fd);
  return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
  REAL(pwrite64, pwrite64_fn);
  FAIL_IF(fd);
  return real_pwrite64(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
  REAL(writev, writev_fn);
  FAIL_IF(fd);
  return real_writev(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
  REAL(pwritev, pwritev_fn);
  FAIL_IF(fd);
  return real_pwritev(fd, iov, iovcnt, offset);
}

int fsync(int fd) {
  REAL(fsync, sync_fn);
  FAIL_IF(fd);
  return real_fsync(fd);
}

int fdatasync(int fd) {
  REAL(fdatasync, sync_fn);
  FAIL_IF(fd);
  return real_fdatasync(fd);
}
