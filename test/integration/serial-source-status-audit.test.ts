// Round-13 audit: the serial entry of /api/sources (`gatehouse sources --json`). When it says
// 'retrying', each link that is not open carries why (its lastError), as /api/links does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialSource } from '../../gateway/pipeline/sources/serial.js';
import type { Broker } from '../../gateway/broker/index.js';
import type { Intake } from '../../gateway/pipeline/contract.js';
import { simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import { open } from 'node:fs/promises';
import { testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial source status: a link that is not open shows its lastError in the source details; an open one none', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  // The two broker calls the serial source makes; the rest of a broker is not needed here.
  const broker = { publish: async () => undefined, subscribe: () => () => undefined } as unknown as Broker;
  const options = [simulatorLinkOptions('up', pair.dev1, 'line', 'json'), simulatorLinkOptions('gone', '/nonexistent/gatehouse-audit-tty', 'line', 'json')].map(
    (o) => SerialLinkOptionsSchema.parse(o),
  );
  const source = await SerialSource.create(options, { ...testDeps(), broker });
  const intake: Intake = { submit: () => undefined, commitMeta: async () => undefined, readMeta: async () => undefined, accepting: () => true };
  await source.start(intake);
  t.after(() => source.stop());
  const s = source.status();
  assert.equal(s.state, 'retrying');
  const links = (s.details as { links: Array<{ name: string; state: string; lastError?: string }> }).links;
  const gone = links.find((l) => l.name === 'gone');
  const up = links.find((l) => l.name === 'up');
  assert.equal(gone?.state, 'retrying');
  assert.match(gone?.lastError ?? '', /GH_SERIAL_OPEN.*nonexistent/);
  assert.equal(up?.state, 'open');
  assert.equal(up?.lastError, undefined);
});

test('serial source status: an open link whose reading is paused by backpressure says so (paused, pausedAt)', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const broker = { publish: async () => undefined, subscribe: () => () => undefined } as unknown as Broker;
  const options = [SerialLinkOptionsSchema.parse({ ...simulatorLinkOptions('slow', pair.dev1, 'line', 'json'), maxInFlight: 2 })];
  const source = await SerialSource.create(options, { ...testDeps(), broker });
  // A store that does not commit (a slow disk): every frame stays in flight.
  const intake: Intake = {
    submit: () => new Promise<void>(() => undefined),
    commitMeta: async () => undefined,
    readMeta: async () => undefined,
    accepting: () => true,
  };
  await source.start(intake);
  t.after(() => source.stop());
  type Link = { name: string; state: string; paused?: boolean; pausedAt?: number };
  const link = (): Link | undefined => (source.status().details as { links: Link[] }).links[0];
  await waitUntil(() => link()?.state === 'open', 'link open');
  assert.equal(link()?.paused, undefined, 'reading: nothing to say');
  const dev = await open(pair.dev0, 'r+');
  t.after(() => dev.close());
  await dev.write('{"n":1}\n{"n":2}\n');
  await waitUntil(() => link()?.paused === true, 'the source details say the link is paused');
  assert.equal(source.status().state, 'running', 'the port is open: running, paused for now');
  assert.equal(typeof link()?.pausedAt, 'number');
});
