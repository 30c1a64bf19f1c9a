// A power cut under the http source (test/helpers/power-cut.ts: the gateway CLI on an ext4 loop
// disk, copied as a cut leaves it). A 200 from an http source is its acknowledgement
// (docs/http-source.md): every message of a request answered 200 must be on the disk after a cut
// in full flow, whether it came alone or in an NDJSON batch over a keep-alive connection.
// - Two cuts in a row (default configuration: archive rule, durability fsync, gzipped NDJSON file
//   exporter), the second on the gateway started on the disk the first left: every message
//   answered 200 is on each copy (the store opened on it, then the export files) and read through
//   the gateway started on it.
// - The control: the same with `durability: os` (the 200 after the write, before any fsync) and no
//   exporter must lose messages answered 200: a harness that finds nothing there proves nothing.
// Needs root (loop device, mount): skipped otherwise with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePort, waitUntil } from '../helpers/index.js';
import { cutPower, loopDisk, powerCutSkip, type LoopDisk } from '../helpers/power-cut.js';
import { gatewayOn, heldOnDisk, throughGateway } from '../helpers/power-cut-flow.js';
import { postFlow } from '../helpers/power-cut-http.js';
import type { TestContext } from 'node:test';
import type { GatewayProcess } from '../helpers/gateway-process.js';

const skip = powerCutSkip();

const sourceYaml = (port: number): string => `sources:\n  - { type: http, name: devices, host: 127.0.0.1, port: ${port} }\n`;

/** POST through gw's http source until `okBefore` messages are answered 200, then cut the power while requests are in flight. */
async function postThenCut(t: TestContext, gw: GatewayProcess, port: number, disk: LoopDisk, okBefore: number, tag: string) {
  const flow = postFlow(port, tag, 8);
  t.after(() => flow.stop());
  await waitUntil(() => flow.acked.size >= okBefore && flow.batches > 0, `${okBefore} messages answered 200`, 60_000, 5);
  // In full flow: the cut comes while requests wait for their commits (8 clients, one request each).
  await waitUntil(() => flow.inFlight >= 4, '4 requests in flight', 10_000, 1);
  const inFlight = flow.inFlight;
  const after = await cutPower(t, disk, gw.proc.pid!);
  // Taken before the gateway is killed: nothing it does after the cut reaches the copy anyway.
  const acked = new Set(flow.acked);
  await gw.kill9();
  await flow.stop();
  return { acked, after, inFlight, batches: flow.batches };
}

test('two power cuts in full flow of POSTs to the http source (single readings and NDJSON batches over keep-alive, durability fsync, default config): every message answered 200 is on the disk each cut left', {
  skip,
  timeout: 240_000,
}, async (t) => {
  let disk = await loopDisk(t, 128);
  const port = await freePort(t);
  const okAll = new Set<string>();
  const cuts = [3_000, 6_000];
  for (let cut = 0; cut <= cuts.length; cut++) {
    const gw = await gatewayOn(t, disk, sourceYaml(port));
    if (cut > 0) {
      // The gateway's own recovery from the cut (LevelDB's log replay, the exporter's checkpoint).
      const found = await throughGateway(gw, join(disk.dir, 'data'));
      const missing = [...okAll].filter((k) => !found.held.has(k));
      t.diagnostic(`after cut ${cut}, through the gateway: ${okAll.size} answered 200 so far, on disk ${found.held.size}, missing ${missing.length}`);
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${okAll.size} messages answered 200 are not on the disk after power cut ${cut}`);
    }
    if (cut === cuts.length) {
      await gw.kill9();
      break;
    }
    const { acked, after, inFlight, batches } = await postThenCut(t, gw, port, disk, cuts[cut]!, `http${cut}`);
    for (const k of acked) okAll.add(k);
    // Read with the store opened on the copy, before any gateway runs on it.
    const found = await heldOnDisk(join(after.dir, 'data'));
    const missing = [...okAll].filter((k) => !found.held.has(k));
    t.diagnostic(
      `cut ${cut + 1}: ${acked.size} answered 200 (${batches} NDJSON batches), ${inFlight} requests in flight at the cut; on the copy ${found.held.size} (stream ${found.inStream}, exported ${found.exported}, torn lines ${found.tornLines}), missing ${missing.length}`,
    );
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${okAll.size} messages answered 200 are not on the disk power cut ${cut + 1} left`);
    await disk.release();
    disk = after;
  }
});

test('control: with durability os (the 200 before the fsync) the same power cut loses messages answered 200, so the harness can see an early 200', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const disk = await loopDisk(t, 128);
  const port = await freePort(t);
  // Everything kept in the store (no exporter): the exporter fsyncs its files whatever the store's durability.
  const gw = await gatewayOn(t, disk, `store: { durability: os }\nexporters: []\n${sourceYaml(port)}`);
  const { acked, after } = await postThenCut(t, gw, port, disk, 3_000, 'control');
  const found = await heldOnDisk(join(after.dir, 'data'));
  const missing = [...acked].filter((k) => !found.held.has(k));
  t.diagnostic(`${acked.size} answered 200, on disk ${found.held.size}, missing ${missing.length}`);
  assert.ok(
    missing.length > 0,
    `a power cut after ${acked.size} messages answered 200 without fsync lost none: the copy holds what was not fsynced, so the fsync test above proves nothing`,
  );
});
