// rsyslog's omrelp (Debian `rsyslog-relp`) forwarding to the relp listener of a syslog source in a
// real gateway process, killed -9 mid-flow and started again: every message logger handed to
// rsyslog reaches the archive stream. Over plain TCP a kill -9 loses what the gateway had read and
// not committed (docs/syslog-source.md); over RELP, rsyslog sends again whatever the gateway had
// not answered, and it answers only what is committed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { restartablePort } from '../helpers/ports.js';
import { archived, lineSender, missing, rsyslogd, syslogGateway } from '../helpers/rsyslog.js';

const OMRELP = '/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so';
const skip =
  needBinary('rsyslogd', 'rsyslog') ??
  needBinary('logger', 'bsdutils') ??
  (existsSync(OMRELP) || existsSync(OMRELP.replace('x86_64', 'aarch64'))
    ? undefined
    : "needs rsyslog's RELP output: install the Debian package 'rsyslog-relp'");

test('rsyslog omrelp: the gateway killed -9 mid-flow and started again, every message sent arrives (rsyslog sends again what was not answered)', {
  skip,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-relp-');
  const [gwPort, inPort] = [await restartablePort(t), await restartablePort(t)];
  const syslog = `{ type: syslog, name: cabinet, relp: { port: ${gwPort} } }`;
  let gw = await syslogGateway(dir, syslog);
  t.after(() => gw.kill9());
  await rsyslogd(
    t,
    dir,
    inPort,
    `module(load="omrelp")
action(type="omrelp" target="127.0.0.1" port="${gwPort}" template="RSYSLOG_SyslogProtocol23Format"
  queue.type="LinkedList" queue.size="100000" action.resumeRetryCount="-1" action.resumeInterval="1")`,
  );
  const sender = lineSender(t, inPort);
  let n = 0;
  const flow = setInterval(() => sender.send(`n=${n++}`), 5);
  t.after(() => clearInterval(flow));
  await waitUntil(async () => (await archived(gw)).length >= 100, 'the flow reaches the stream', 15_000, 50);
  await gw.kill9();
  const downAt = n;
  await waitUntil(() => n >= downAt + 200, 'more sent while the gateway is down', 10_000, 20);
  gw = await syslogGateway(dir, syslog);
  await waitUntil(() => n >= downAt + 400, 'more sent after the start', 10_000, 20);
  clearInterval(flow);
  const total = n;
  await sender.close();
  const got = await waitUntil(
    async () => {
      const g = await archived(gw);
      return missing(g, total).length === 0 ? g : undefined;
    },
    'every message sent reaches the stream',
    45_000,
    250,
  ).catch(async (e: Error) => {
    throw new Error(`${e.message}; missing: ${JSON.stringify(missing(await archived(gw), total).slice(0, 50))}`);
  });
  assert.ok(got.length >= total);
  const rec = (await (await fetch(`${gw.adminUrl}/api/streams/archive/records?from=1&limit=1`)).json()) as { records: Array<{ payload: string }> };
  const first = JSON.parse(rec.records[0]!.payload) as Record<string, unknown>;
  assert.deepEqual([first.format, first.appName, first.transport], ['rfc5424', 'seq', 'relp']);
  t.diagnostic(`${total} sent (${downAt} before the kill -9), ${got.length} records (${got.length - total} sent twice: answers the kill cut off)`);
});
