/*
 * A failing card under one path: an LD_PRELOAD shim that fails the reads of the files whose path
 * contains a given string with EIO, while a flag file exists (the test decides when the fault starts
 * and ends). A worn SD card fails reads of some blocks, not all: the rest of the process (node's
 * modules, the store, other tailed files) reads as usual. Compiled with gcc by the test
 * (test/integration/log-bounds-file-source.test.ts); the child runs with UV_USE_IO_URING=0 so
 * that libuv's reads go through these calls.
 *
 * Environment:
 *   GH_EIO_MATCH  a read of a file whose path (/proc/self/fd/N) contains this string fails...
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

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*pread64_fn)(int, void *, size_t, off64_t);
typedef ssize_t (*readv_fn)(int, const struct iovec *, int);
typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*preadv64_fn)(int, const struct iovec *, int, off64_t);

/* The real call, looked up once (the next object's, libc's). */
#define REAL(name, type) \
  static type real_##name; \
  if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t read(int fd, void *buf, size_t count) {
  REAL(read, read_fn);
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return real_read(fd, buf, count);
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
  REAL(pread, pread_fn);
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return real_pread(fd, buf, count, offset);
}

ssize_t pread64(int fd, void *buf, size_t count, off64_t offset) {
  REAL(pread64, pread64_fn);
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return real_pread64(fd, buf, count, offset);
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt) {
  REAL(readv, readv_fn);
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return real_readv(fd, iov, iovcnt);
}

ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
  REAL(preadv, preadv_fn);
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return real_preadv(fd, iov, iovcnt, offset);
}

ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off64_t offset) {
  REAL(preadv64, preadv64_fn);
  if (failing(fd)) {
    errno = EIO;
    return -1;
  }
  return real_preadv64(fd, iov, iovcnt, offset);
}
