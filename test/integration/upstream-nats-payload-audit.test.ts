// NATS destination against a real nats-server whose max_payload (1024 bytes here) is below the
// destination's maxRecordBytes (1 MiB by default): a larger record is dead-lettered at once as
// TOO_LARGE and the records behind it go through; its error says the sizes and what to change
// (before: a bare 'NatsError: MAX_PAYLOAD_EXCEEDED').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { freePort, needBinary, tempDir, waitUntil, which } from '../helpers/index.js';

const skip = needBinary('nats-server', 'nats-server');

test("nats: a record over the server's max_payload is dead-lettered with the sizes and the fix; the rest go through", { skip, timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-nats-payload-');
  const port = await freePort(t);
  const conf = join(dir, 'nats.conf');
  await writeFile(conf, `listen: 127.0.0.1:${port}\nmax_payload: 1024\njetstream { store_dir: "${join(dir, 'js')}" }\n`);
  const server = spawn(which('nats-server')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }
  });
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'nats',
    servers: `nats://127.0.0.1:${port}`,
    stream: 'UP',
    subject: 'up.${stream}',
    createStream: true,
  });
  await append(streams, 2);
  await streams.append('up', { topic: 'dev/d1/data', payload: Buffer.alloc(2000, 0x61), receivedAt: Date.now() });
  await append(streams, 2);
  await waitUntil(() => exporter.status().lastExportedSeq === 5, 'the checkpoint passes all 5 records', 30_000);
  const st = exporter.status();
  assert.equal(st.deadLetters, 1);
  assert.equal(st.exportedRecords, 4);
  const [dl] = await streams.read('up-dlq', 1);
  assert.equal(dl?.payload.length, 2000);
  assert.match(
    dl?.attrs?.error ?? '',
    /MAX_PAYLOAD_EXCEEDED: record of 2000 bytes exceeds the server's max_payload of 1024 bytes; raise max_payload .* maxRecordBytes/,
  );
});
