// rsyslog (Debian `rsyslog`) forwarding to a syslog source of a real gateway process, as in a
// cabinet: logger -> rsyslogd (imtcp) -> omfwd TCP with a disk-less action queue retrying for ever
// -> the gateway's syslog source -> a rule -> a local stream. The gateway is stopped mid-flow and
// started again: what rsyslog queued while it was down arrives, and every message sent reaches the
// stream at least once. Also the framings (octet-counted, traditional LF) and TLS (gtls driver,
// Debian `rsyslog-gnutls`).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { restartablePort } from '../helpers/ports.js';
import { archived, flowAcrossRestart, lineSender, missing, rsyslogd, syslogGateway as gateway } from '../helpers/rsyslog.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const skip = needBinary('rsyslogd', 'rsyslog') ?? needBinary('logger', 'bsdutils');
const GTLS = '/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so';
const skipTls =
  skip ??
  (existsSync(GTLS) || existsSync(GTLS.replace('x86_64', 'aarch64')) ? undefined : "needs rsyslog's gtls driver: install the Debian package 'rsyslog-gnutls'");

async function restartMidFlow(t: TestContext, framing: 'octet-counted' | 'traditional'): Promise<void> {
  const r = await flowAcrossRestart(t, {
    syslog: '{ type: syslog, name: cabinet, tcp: { port: ${port} } }',
    action: `action(type="omfwd" target="127.0.0.1" port="\${port}" protocol="tcp" TCP_Framing="${framing}" template="RSYSLOG_SyslogProtocol23Format"
  queue.type="LinkedList" queue.size="100000" action.resumeRetryCount="-1" action.resumeInterval="1")`,
    interrupt: 'stop',
  });
  t.diagnostic(`${r.total} sent (${r.before} before the stop), ${r.records} records (${r.records - r.total} duplicates)`);
}

test('rsyslog omfwd TCP octet-counted: the gateway restarted mid-flow, every message sent arrives (at least once)', { skip }, (t) =>
  restartMidFlow(t, 'octet-counted'),
);

test('rsyslog omfwd TCP traditional (LF) framing: the gateway restarted mid-flow, every message sent arrives (at least once)', { skip }, (t) =>
  restartMidFlow(t, 'traditional'),
);

test('rsyslog omfwd over TLS (gtls) to a tls listener: committed, with the sender address and RFC 5424 fields', { skip: skipTls }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-rsyslog-tls-');
  const { cert, key } = opensslSelfSigned(dir);
  const [gwPort, inPort] = [await restartablePort(t), await restartablePort(t)];
  const gw = await gateway(dir, `{ type: syslog, name: cabinet, tls: { port: ${gwPort}, cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} } }`);
  t.after(() => gw.kill9());
  await rsyslogd(
    t,
    dir,
    inPort,
    `global(DefaultNetstreamDriverCAFile="${cert}")
action(type="omfwd" target="127.0.0.1" port="${gwPort}" protocol="tcp" StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
  TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")`,
  );
  const sender = lineSender(t, inPort);
  for (let i = 0; i < 5; i++) sender.send(`n=${i}`);
  await sender.close();
  const got = await waitUntil(
    async () => {
      const g = await archived(gw);
      return missing(g, 5).length === 0 ? g : undefined;
    },
    'the five over TLS',
    20_000,
    200,
  );
  assert.equal(got.length, 5);
  const rec = (await (await fetch(`${gw.adminUrl}/api/streams/archive/records?from=1&limit=1`)).json()) as {
    records: Array<{ topic: string; payload: string }>;
  };
  const p = JSON.parse(rec.records[0]!.payload) as Record<string, unknown>;
  assert.deepEqual([p.format, p.appName, p.transport, p.sender], ['rfc5424', 'seq', 'tls', '127.0.0.1']);
  assert.match(rec.records[0]!.topic, /^syslog\/[^/]+\/seq$/);
});

test("rsyslog gtls with the wrong CA: it refuses the gateway's certificate after the handshake, so the gateway counts closed-before-data and says why (was: counted accepted, nothing said)", {
  skip: skipTls,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-rsyslog-tls-ca-');
  const { cert, key } = opensslSelfSigned(dir);
  const other = opensslSelfSigned(await tempDir(t, 'gatehouse-rsyslog-other-ca-'));
  const [gwPort, inPort] = [await restartablePort(t), await restartablePort(t)];
  const gw = await gateway(dir, `{ type: syslog, name: cabinet, tls: { port: ${gwPort}, cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} } }`);
  t.after(() => gw.kill9());
  const outcomes = async () => {
    const res = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as {
      sources: Array<{ kind: string; details: { connectionOutcomes?: Record<string, number> } }>;
    };
    return res.sources.find((s) => s.kind === 'syslog')?.details.connectionOutcomes ?? {};
  };
  await rsyslogd(
    t,
    dir,
    inPort,
    `global(DefaultNetstreamDriverCAFile="${other.cert}")
action(type="omfwd" target="127.0.0.1" port="${gwPort}" protocol="tcp" StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
  TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")`,
  );
  const sender = lineSender(t, inPort);
  sender.send('n=0');
  await sender.close();
  const o = await waitUntil(async () => ((await outcomes())['closed-before-data'] ? outcomes() : undefined), 'the refusal counted', 20_000, 200);
  assert.equal(o['tls-failed'], undefined, 'the handshake itself succeeded');
  assert.equal((await archived(gw)).length, 0, 'nothing delivered');
  const log = gw.logs.map((l) => String(l.msg)).join('\n');
  assert.match(log, /closed its connection after the handshake, before any message: it likely refused the gateway's certificate/);
});
