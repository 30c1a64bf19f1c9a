// Round-13 audit: the serial entry of /api/sources (`gatehouse sources --json`). When it says
// 'retrying', each link that is not open carries why (its lastError), as /api/links does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialSource } from '../../gateway/pipeline/sources/serial.js';
import type { Broker } from '../../gateway/broker/index.js';
import type { Intake } from '../../gateway/pipeline/contract.js';
import { simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import { testDeps } from '../helpers/index.js';
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
