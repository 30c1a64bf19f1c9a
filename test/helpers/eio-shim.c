/*
 * A failing card under one path: an LD_PRELOAD shim that fails the reads, the writes and flushes,
 * or both, of the files whose path contains a given string with EIO, while a flag file exists (the
 * test decides when the fault starts and ends). A worn SD card fails some blocks, not all: the rest
 * of the process (node's modules, the store, other files) reads and writes as usual. No failing
 * card exists where the tests run. Compiled with gcc by the tests (test/helpers/eio-shim.ts:
 * test/integration/log-bounds-file-source.test.ts fails reads, log-bounds-store-eio.test.ts
 * writes); the child runs with UV_USE_IO_URING=0 so that libuv's reads and writes go through these
 * calls (LevelDB's own thread calls them directly).
 *
 * Environment:
 *   GH_EIO_OPS    which calls fail: "read" (read, pread, pread64, readv, preadv, preadv64),
 *                 "write" (write, pwrite, pwrite64, writev, pwritev, fsync, fdatasync) or
 *                 "read,write"; unset or empty, none
 *   GH_EIO_MATCH  a call on a file whose path (/proc/self/fd/N) contains this string fails...
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

enum kind { READS = 1, WRITES = 2 };

static const char *match;
static const char *flag;
/* The kinds GH_EIO_OPS selects, read once; -1 until then. */
static int ops = -1;

static int failing(int fd, enum kind kind) {
  if (ops < 0) {
    const char *o = getenv("GH_EIO_OPS");
    ops = (o && strstr(o, "read") ? READS : 0) | (o && strstr(o, "write") ? WRITES : 0);
  }
  if (!(ops & kind)) return 0;
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

/*
 * The call `name` of `kind`: EIO while failing, else the real call (the next object's, libc's,
 * looked up once).
 */
#define SHIM(ret, name, kind, params, args) \
  ret name params { \
    static ret(*real) params; \
    if (!real) real = (ret(*) params)dlsym(RTLD_NEXT, #name); \
    if (failing(fd, kind)) { \
      errno = EIO; \
      return -1; \
    } \
    return real args; \
  }

SHIM(ssize_t, read, READS, (int fd, void *buf, size_t count), (fd, buf, count))
SHIM(ssize_t, pread, READS, (int fd, void *buf, size_t count, off_t offset), (fd, buf, count, offset))
SHIM(ssize_t, pread64, READS, (int fd, void *buf, size_t count, off64_t offset), (fd, buf, count, offset))
SHIM(ssize_t, readv, READS, (int fd, const struct iovec *iov, int iovcnt), (fd, iov, iovcnt))
SHIM(ssize_t, preadv, READS, (int fd, const struct iovec *iov, int iovcnt, off_t offset), (fd, iov, iovcnt, offset))
SHIM(ssize_t, preadv64, READS, (int fd, const struct iovec *iov, int iovcnt, off64_t offset), (fd, iov, iovcnt, offset))

SHIM(ssize_t, write, WRITES, (int fd, const void *buf, size_t count), (fd, buf, count))
SHIM(ssize_t, pwrite, WRITES, (int fd, const void *buf, size_t count, off_t offset), (fd, buf, count, offset))
SHIM(ssize_t, pwrite64, WRITES, (int fd, const void *buf, size_t count, off64_t offset), (fd, buf, count, offset))
SHIM(ssize_t, writev, WRITES, (int fd, const struct iovec *iov, int iovcnt), (fd, iov, iovcnt))
SHIM(ssize_t, pwritev, WRITES, (int fd, const struct iovec *iov, int iovcnt, off_t offset), (fd, iov, iovcnt, offset))
SHIM(int, fsync, WRITES, (int fd), (fd))
SHIM(int, fdatasync, WRITES, (int fd), (fd))
