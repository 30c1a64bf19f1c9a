// docs/firmware-protocol.md's C reference runs as written: the ```c block is compiled with gcc
// (warnings are errors) into a small device harness that plays a microcontroller on one end of a
// socat pty pair, with a real serial link (crc framing, acknowledged header mode) on the other. The
// harness sends readings with the reference's send_reading(), decodes the gateway's frames as the
// page says a device does (A5 5A, LEN, CRC, drop one byte on a mismatch) into its on_frame(), and
// resends with its retransmit_loop() until every reading is ACKed and a downlink command came.
// The page's worked frame and CRC check value are compared with what the reference computes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { needBinary, repoRoot, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

const run = promisify(execFile);
const skip = needBinary('gcc', 'gcc') ?? socatSkip;

// The device around the reference: the three functions the page leaves to the firmware (millis,
// uart_write, handle_command) and a main loop. `frame` prints the page's checks; `run PATH N BIG`
// sends N readings and one of BIG bytes, then serves the link for up to 10 s.
const HARNESS = `
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <poll.h>
static int fd = -1;
static int commands;
uint32_t millis(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint32_t)(t.tv_sec * 1000 + t.tv_nsec / 1000000); }
void uart_write(const uint8_t *p, size_t n) { if (write(fd, p, n) != (ssize_t)n) perror("write"); }
void handle_command(const uint8_t *p, uint16_t n) { printf("command %.*s\\n", (int)n, (const char *)p); fflush(stdout); commands++; }
#include "reference.c"
static int pending(void) { int c = 0; for (int i = 0; i < SLOTS; i++) c += slots[i].used; return c; }
int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "frame") == 0) {
    uint8_t f[64];
    size_t n = frame_encode(f, 0x44, 7, (const uint8_t *)"{\\"t\\":1}", 7);
    printf("crc %04X\\nframe", crc16_ccitt((const uint8_t *)"123456789", 9));
    for (size_t i = 0; i < n; i++) printf(" %02X", f[i]);
    printf("\\n");
    return 0;
  }
  if (argc != 5) return 2;
  fd = open(argv[2], O_RDWR | O_NOCTTY);
  if (fd < 0) { perror("open"); return 2; }
  int count = atoi(argv[3]);
  for (int i = 0; i < count; i++) {
    char body[32];
    int n = snprintf(body, sizeof body, "{\\"t\\":%d}", 20 + i);
    printf("sent %d\\n", send_reading((const uint8_t *)body, (uint16_t)n));
  }
  static uint8_t big[4096];
  memset(big, 'x', sizeof big);
  printf("oversize %d\\n", send_reading(big, (uint16_t)atoi(argv[4])));
  fflush(stdout);
  uint8_t buf[4096];
  size_t have = 0;
  uint32_t start = millis();
  while (millis() - start < 10000) {
    if (pending() == 0 && commands > 0) { printf("all acked\\n"); return 0; }
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, 20) > 0) { ssize_t r = read(fd, buf + have, sizeof buf - have); if (r > 0) have += (size_t)r; }
    for (;;) {
      size_t i = 0;
      while (i + 1 < have && !(buf[i] == 0xA5 && buf[i + 1] == 0x5A)) i++;
      memmove(buf, buf + i, have - i);
      have -= i;
      if (have < 4) break;
      uint16_t len = (uint16_t)(buf[2] << 8 | buf[3]);
      if (have < (size_t)len + 6) break;
      if (crc16_ccitt(buf + 2, 2 + (size_t)len) != (uint16_t)(buf[4 + len] << 8 | buf[5 + len])) { memmove(buf, buf + 1, have - 1); have--; continue; }
      on_frame(buf + 4, len);
      memmove(buf, buf + 6 + len, have - 6 - len);
      have -= 6 + (size_t)len;
    }
    retransmit_loop();
  }
  printf("timeout: %d pending, %d commands\\n", pending(), commands);
  return 1;
}
`;

async function compile(dir: string): Promise<string> {
  const md = await readFile(join(repoRoot, 'docs', 'firmware-protocol.md'), 'utf8');
  const block = /```c\n([\s\S]*?)```/.exec(md);
  assert.ok(block, 'the C reference block of docs/firmware-protocol.md');
  await writeFile(join(dir, 'reference.c'), block[1]!);
  await writeFile(join(dir, 'harness.c'), HARNESS);
  const bin = join(dir, 'harness');
  await run('gcc', ['-std=c11', '-D_POSIX_C_SOURCE=200809L', '-Wall', '-Wextra', '-Werror', '-o', bin, join(dir, 'harness.c')], { cwd: dir });
  return bin;
}

test("docs/firmware-protocol.md: the C reference computes the page's CRC check value and its worked frame", { skip }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-doc-c-');
  const bin = await compile(dir);
  const { stdout } = await run(bin, ['frame']);
  const md = await readFile(join(repoRoot, 'docs', 'firmware-protocol.md'), 'utf8');
  const check = /`crc\("123456789"\) == 0x([0-9A-F]{4})`/.exec(md);
  const frame = /A frame in `crc` framing, DATA seq 7 with JSON `\{"t":1\}`:\n`([0-9A-F ]+)`/.exec(md);
  assert.ok(check && frame, "the page's check value and worked frame");
  assert.match(stdout, new RegExp(`^crc ${check[1]}$`, 'm'));
  assert.match(stdout, new RegExp(`^frame ${frame[1]}$`, 'm'));
});

test('docs/firmware-protocol.md: the C reference delivers readings to a real link, takes a command, refuses a reading too big for its slot', {
  skip,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-doc-c-');
  const bin = await compile(dir);
  const pair = await startSocat(t);
  const committed: string[] = [];
  const link = createSerialLink(
    { name: 'mcu', path: pair.dev1, framing: { type: 'crc' }, codec: { type: 'json' }, ack: { enabled: true }, reconnect: { watchMs: 50 } },
    {
      ...testDeps(),
      onMessage: (m) =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            committed.push(m.payload.toString());
            resolve();
          }),
        ),
    },
  );
  await link.start();
  t.after(() => link.stop());
  await waitUntil(() => link.status().state === 'open', 'link open');
  const N = 5;
  const child = spawn(bin, ['run', pair.dev0, String(N), '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  await waitUntil(() => committed.length >= N, `the device's readings committed (device said: ${out})`, 10_000);
  await link.write({ led: 1 });
  const code = await exited;
  assert.equal(code, 0, `the device got every ACK and the command:\n${out}`);
  assert.match(out, /^oversize -1$/m, `a 60-byte reading does not fit a 64-byte slot frame (9 bytes of framing): refused, not written past the slot:\n${out}`);
  assert.match(out, /^command \{"led":1\}$/m);
  assert.deepEqual([...new Set(committed)].sort(), ['{"t":20}', '{"t":21}', '{"t":22}', '{"t":23}', '{"t":24}']);
});
