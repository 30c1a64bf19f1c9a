// The `type: syslog` source with real senders (util-linux `logger`) and raw sockets for faults,
// over a REAL store (test/helpers/syslog-rig.ts: the intake is a recording test double of the
// pipeline's Intake contract, as in the http source's tests). What each case proves is in its name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { execFileSync } from 'node:child_process';
import { connect as tlsConnect } from 'node:tls';
import { copyFile, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { metricValue, needBinary, waitUntil, withTimeout } from '../helpers/index.js';
import { logger, rawTcp, sendUdp, syslogRig } from '../helpers/syslog-rig.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { noIpv6Loopback } from '../helpers/ipv6.js';
import { ERRORS } from '../../core/errors.js';
import { syslogSourceSchema } from '../../gateway/pipeline/sources/syslog/options.js';

const skip = needBinary('logger', 'bsdutils');

test('logger --udp --rfc5424 with structured data: committed as JSON with every field, on syslog/<host>/<app>', { skip }, async (t) => {
  const rig = await syslogRig(t);
  await logger(
    rig.udp,
    ['--udp', '--rfc5424', '-t', 'pump-ctl', '-i', '-p', 'local3.warning', '--sd-id', 'zoo@123', '--sd-param', 'tiger="hungry"', '--msgid', 'ALARM'],
    'tank 3 low',
  );
  const [m] = await waitUntil(async () => ((await rig.committed()).length === 1 ? rig.committed() : undefined), 'the message committed');
  const host = hostname();
  assert.equal(m!.topic, `syslog/${host}/pump-ctl`);
  assert.equal(m!.format, 'rfc5424');
  assert.deepEqual([m!.facility, m!.facilityName, m!.severity, m!.severityName], [19, 'local3', 4, 'warning']);
  assert.equal(m!.hostname, host);
  assert.equal(m!.appName, 'pump-ctl');
  assert.match(String(m!.procId), /^\d+$/);
  assert.equal(m!.msgId, 'ALARM');
  assert.deepEqual((m!.structuredData as Record<string, unknown>)['zoo@123'], { tiger: 'hungry' });
  assert.equal(m!.message, 'tank 3 low');
  assert.equal(m!.sender, '127.0.0.1');
  assert.equal(m!.transport, 'udp');
  assert.ok(Math.abs(Date.parse(String(m!.timestamp)) - Date.now()) < 60_000, 'an ISO timestamp of now');
  const msg = rig.intake.messages[0]!;
  assert.deepEqual([msg.source.kind, msg.source.id, msg.source.ip, msg.qos], ['syslog', 'cabinet', '127.0.0.1', 0]);
  assert.equal(await metricValue(rig.deps.registry, 'gatehouse_syslog_source_messages_total', { transport: 'udp', format: 'rfc5424' }), 1);
});

test('logger over TCP: LF-framed RFC 3164 and octet-counted RFC 5424 on one listener, each in order', { skip }, async (t) => {
  const rig = await syslogRig(t);
  await logger(rig.tcp, ['--tcp', '--rfc3164', '-t', 'ups'], 'on battery');
  await logger(rig.tcp, ['--tcp', '--octet-count', '--rfc5424', '-t', 'ups'], 'on mains');
  const got = await waitUntil(async () => ((await rig.committed()).length === 2 ? rig.committed() : undefined), 'both committed');
  assert.deepEqual(
    got.map((m) => [m.format, m.appName, m.message, m.transport]),
    [
      ['rfc3164', 'ups', 'on battery', 'tcp'],
      ['rfc5424', 'ups', 'on mains', 'tcp'],
    ],
  );
  assert.equal(rig.intake.messages[0]!.qos, 1);
});

test('faults on one TCP connection: garbage, invalid UTF-8, a 1 MiB line, a non-numeric count: each kept (unknown, cut, marked), the next message whole', async (t) => {
  const rig = await syslogRig(t);
  const s = await rawTcp(t, rig.tcp);
  s.write(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0a])); // garbage line
  s.write(Buffer.concat([Buffer.from('<13>Dec  7 14:18:34 vm app: bad '), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]));
  s.write(`<13>big: ${'x'.repeat(1024 * 1024)}\n`);
  s.write('12abc <13>not a count\n');
  s.write('<13>Dec  7 14:18:34 vm app: after\n');
  const got = await waitUntil(async () => ((await rig.committed()).length === 5 ? rig.committed() : undefined), 'five committed', 10_000);
  assert.equal(got[0]!.format, 'unknown');
  assert.equal(got[0]!.message, '\uFFFD\u00137', 'a NUL between frames is no byte of a message');
  assert.equal(got[1]!.message, 'bad \uFFFD(');
  assert.equal(got[2]!.truncated, true);
  assert.equal(String(got[2]!.message).length, 8192 - '<13>big: '.length);
  assert.equal(got[3]!.format, 'unknown');
  assert.equal(got[3]!.message, '12abc <13>not a count');
  assert.equal(got[4]!.message, 'after');
  const st = rig.source.status().details as Record<string, unknown>;
  assert.deepEqual([st.parseFailures, st.truncated, st.invalidUtf8], [2, 1, 2]);
  assert.equal(await metricValue(rig.deps.registry, 'gatehouse_syslog_source_truncated_total'), 1);
  assert.equal(rig.source.status().state, 'running');
});

test('an octet count that lies: bigger than what comes (kept, truncated, at the close), huge (10 digits: memory bounded, kept cut at the close)', async (t) => {
  const rig = await syslogRig(t, { maxMessageBytes: 1024 });
  const a = await rawTcp(t, rig.tcp);
  a.end('500 <13>short one');
  const b = await rawTcp(t, rig.tcp);
  b.write('9999999999 <13>');
  for (let i = 0; i < 32; i++) b.write(Buffer.alloc(32 * 1024, 0x61));
  b.end();
  const got = await waitUntil(async () => ((await rig.committed()).length === 2 ? rig.committed() : undefined), 'both kept at their close', 10_000);
  const short = got.find((m) => String(m.message).includes('short'))!;
  assert.equal(short.truncated, true);
  assert.equal(short.appName, null);
  const huge = got.find((m) => m !== short)!;
  assert.equal(huge.truncated, true);
  assert.ok(String(huge.message).length <= 1024);
});

test('a slowloris connection (a message begun, one byte a while) is closed after messageTimeoutMs, what came kept; an idle one after idleTimeoutMs', async (t) => {
  const rig = await syslogRig(t, { messageTimeoutMs: 1000, idleTimeoutMs: 1500 });
  const slow = await rawTcp(t, rig.tcp);
  slow.write('<13>slow');
  const trickle = setInterval(() => slow.writable && slow.write('.'), 200);
  t.after(() => clearInterval(trickle));
  // Not events.once: it rejects on 'error', and the source closing the connection while a '.' is on
  // its way resets it (ECONNRESET, seen under load): the close is what is awaited.
  await withTimeout(new Promise((r) => slow.once('close', r)), 5000, 'the slow connection closed');
  clearInterval(trickle);
  const idle = await rawTcp(t, rig.tcp);
  await withTimeout(once(idle, 'close'), 5000, 'the idle connection closed');
  const outcomes = (rig.source.status().details as { connectionOutcomes: Record<string, number> }).connectionOutcomes;
  assert.equal(outcomes['message-timeout'], 1);
  assert.equal(outcomes['idle-timeout'], 1);
  const got = await waitUntil(async () => ((await rig.committed()).length === 1 ? rig.committed() : undefined), 'the partial message kept');
  assert.match(String(got[0]!.message), /^slow\.+$/);
});

test('UDP flood while commits are held: beyond maxInFlight datagrams are dropped and counted, nothing grows; released, the rest committed', async (t) => {
  const rig = await syslogRig(t, { maxInFlight: 20 });
  rig.intake.hold();
  const registry = rig.deps.registry;
  const dropped = () => metricValue(registry, 'gatehouse_syslog_source_dropped_total', { reason: 'busy' });
  // in rounds the kernel's receive buffer holds (a flood faster than that is dropped by the kernel, unseen here)
  const sent = 2000;
  for (let round = 0; round < sent / 100; round++) {
    await sendUdp(
      rig.udp,
      Array.from({ length: 100 }, (_, i) => `<13>flood: ${round * 100 + i}`),
    );
    await waitUntil(async () => (await dropped()) + rig.intake.messages.length === (round + 1) * 100, `round ${round} taken or counted`);
  }
  assert.equal(rig.intake.messages.length, 20, 'no more than maxInFlight submitted');
  assert.equal((rig.source.status().details as { inFlight: number }).inFlight, 20);
  rig.intake.release();
  await waitUntil(async () => (await rig.committed()).length === 20, 'the held ones committed');
  assert.equal(await dropped(), sent - 20, 'every other datagram counted, none twice');
  await sendUdp(rig.udp, ['<13>after: the flood']);
  await waitUntil(async () => (await rig.committed()).length === 21, 'a datagram after the flood is taken');
});

test('TCP backpressure: while commits are held the connection is not read past maxInFlight; released, every message committed in order', async (t) => {
  const rig = await syslogRig(t, { maxInFlight: 5 });
  rig.intake.hold();
  const s = await rawTcp(t, rig.tcp);
  // more than the kernel's socket buffers of both ends hold (loopback autotuning: a few MiB)
  const n = 20_000;
  for (let i = 0; i < n; i++) s.write(`<13>seq: ${i} ${'p'.repeat(300)}\n`);
  await waitUntil(() => rig.intake.messages.length >= 5, 'the first submits');
  // the sender's writes back up: its socket buffer fills while the source reads nothing more
  await waitUntil(() => s.writableLength > 0, 'the sender holds what is not read');
  // the loop turns while nothing more is read: a datagram meanwhile is answered (dropped: busy)
  await sendUdp(rig.udp, ['<13>probe: 1']);
  await waitUntil(async () => (await metricValue(rig.deps.registry, 'gatehouse_syslog_source_dropped_total', { reason: 'busy' })) === 1, 'the probe counted');
  // past maxInFlight by at most the rest of one read chunk (64 KiB: ~200 of these messages)
  assert.ok(rig.intake.messages.length < 5 + 250, `read stopped near maxInFlight (${rig.intake.messages.length} submitted)`);
  rig.intake.release();
  const got = await waitUntil(async () => ((await rig.committed()).length === n ? rig.committed() : undefined), 'all committed', 60_000, 100);
  assert.deepEqual(
    got.map((m) => Number(String(m.message).split(' ')[0])),
    Array.from({ length: n }, (_, i) => i),
  );
});

test('TCP: a commit the store refuses for now (stream full) is tried again, reading paused, until committed; UDP: dropped and counted', async (t) => {
  const rig = await syslogRig(t);
  rig.intake.rejectWith(ERRORS.GH_STREAM_FULL({ stream: 'in', held: 1, maxBytes: 1, pending: 0, reason: 'test' }));
  const s = await rawTcp(t, rig.tcp);
  s.write('<13>app: kept through a full stream\n');
  await waitUntil(async () => (await metricValue(rig.deps.registry, 'gatehouse_syslog_source_commit_retries_total')) >= 2, 'retried', 5000);
  // the status says why nothing is read while the state is running
  assert.equal((rig.source.status().details as { paused?: string }).paused, 'store-refusing');
  await sendUdp(rig.udp, ['<13>app: datagram while full']);
  await waitUntil(async () => (await metricValue(rig.deps.registry, 'gatehouse_syslog_source_dropped_total')) >= 1, 'the datagram dropped');
  rig.intake.rejectWith(undefined);
  const got = await waitUntil(async () => ((await rig.committed()).length === 1 ? rig.committed() : undefined), 'committed once the stream takes it', 5000);
  assert.equal(got[0]!.message, 'kept through a full stream');
  await waitUntil(() => ((rig.source.status().details as { paused?: string }).paused === undefined ? true : undefined), 'not paused once committed', 5000);
  const dropped = (rig.source.status().details as { dropped: Record<string, number> }).dropped;
  assert.equal((dropped.busy ?? 0) + (dropped.refused ?? 0), 1);
});

test('allow: a sender outside the ranges is refused (TCP: closed at accept; UDP: dropped), counted; maxConnections: one more closed', async (t) => {
  const denied = await syslogRig(t, { allow: ['10.0.0.0/8', 'fd00::/8'] });
  const s = await rawTcp(t, denied.tcp);
  await withTimeout(once(s, 'close'), 5000, 'closed at accept');
  await sendUdp(denied.udp, ['<13>app: spoofable']);
  await waitUntil(async () => (await metricValue(denied.deps.registry, 'gatehouse_syslog_source_dropped_total', { reason: 'denied' })) === 1, 'counted');
  assert.equal(await metricValue(denied.deps.registry, 'gatehouse_syslog_source_connections_total', { outcome: 'denied' }), 1);
  assert.equal((await denied.committed()).length, 0);
  const allowed = await syslogRig(t, { allow: ['127.0.0.0/8'], maxConnections: 2 });
  const [c1, c2] = [await rawTcp(t, allowed.tcp), await rawTcp(t, allowed.tcp)];
  const c3 = await rawTcp(t, allowed.tcp);
  await withTimeout(once(c3, 'close'), 5000, 'the third closed');
  c1.end('<13>one: 1\n');
  c2.end('<13>two: 2\n');
  await waitUntil(async () => (await allowed.committed()).length === 2, 'the two allowed committed');
  assert.equal(await metricValue(allowed.deps.registry, 'gatehouse_syslog_source_connections_total', { outcome: 'dropped' }), 1);
});

test('TLS (RFC 5425): octet-counted messages over TLS; new files read on reloadTls (SIGHUP), a bad pair refused with the running one kept', async (t) => {
  const rigDir = await syslogRig(t, { udp: undefined, tcp: undefined, tls: { port: 0, cert: '/nonexistent', key: '/nonexistent' } }).catch((e: unknown) => e);
  assert.equal((rigDir as { code?: string }).code, 'GH_SYSLOG_SOURCE_TLS', 'missing files: the kind code');
  const dir = (await syslogRig(t)).dir;
  const { cert, key } = opensslSelfSigned(dir);
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, tls: { port: 0, cert, key } });
  const ca = await readFile(cert);
  const s = tlsConnect({ port: rig.tls, host: '127.0.0.1', ca });
  t.after(() => s.destroy());
  await once(s, 'secureConnect');
  const m = '<13>1 - gw app - - - over tls';
  s.end(`${Buffer.byteLength(m)} ${m}`);
  const got = await waitUntil(async () => ((await rig.committed()).length === 1 ? rig.committed() : undefined), 'committed');
  assert.deepEqual([got[0]!.message, got[0]!.transport, got[0]!.topic], ['over tls', 'tls', 'syslog/gw/app']);
  assert.deepEqual(
    (await rig.source.reloadTls()).map((o) => o.outcome),
    ['unchanged'],
  );
  opensslSelfSigned(dir, 2); // new files at the same paths
  assert.deepEqual(
    (await rig.source.reloadTls()).map((o) => o.outcome),
    ['reloaded'],
  );
  assert.equal(rig.source.servedCertificates().length, 1);
  const other = opensslSelfSigned(dir, 1, 'other');
  await copyFile(other.key, key); // a key of another pair
  const [refused] = await rig.source.reloadTls();
  assert.equal(refused!.outcome, 'refused');
  assert.equal(refused!.error?.code, 'GH_SYSLOG_SOURCE_TLS');
  const again = tlsConnect({ port: rig.tls, host: '127.0.0.1', rejectUnauthorized: false });
  t.after(() => again.destroy());
  await once(again, 'secureConnect');
  assert.equal(again.getPeerX509Certificate()?.fingerprint256, new X509Certificate(await readFile(cert)).fingerprint256, 'the running certificate kept');
  again.destroy();
  // a connection that never starts its handshake does not hold the stop (messageTimeoutMs is 30 s)
  const silent = await rawTcp(t, rig.tls);
  await withTimeout(rig.source.stop(), 5000, 'the stop');
  await withTimeout(once(silent, 'close'), 5000, 'the silent connection closed');
  assert.equal(rig.source.status().state, 'stopped');
});

test('bad config is refused with its key path: no transport, a bad range, a wildcard or an unknown placeholder in the topic, {name} spelling', () => {
  const issues = (o: Record<string, unknown>) =>
    syslogSourceSchema.safeParse({ type: 'syslog', name: 's', ...o }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  assert.match(issues({}).join(), /udp: a syslog source needs at least one of udp, tcp, tls or relp/);
  assert.match(issues({ udp: {}, allow: ['10.0.0.0/33'] }).join(), /allow\.0: an address or a CIDR range/);
  assert.match(issues({ udp: {}, topic: 'syslog/+/x' }).join(), /wildcards/);
  assert.match(issues({ udp: {}, topic: 'syslog/${host}' }).join(), /unknown placeholder \$\{host\}/);
  assert.match(issues({ udp: {}, topic: 'syslog/{hostname}' }).join(), /\$\{hostname\}/);
  assert.match(issues({ tcp: { port: 5514 }, tls: { port: 5514, cert: 'c', key: 'k' } }).join(), /tls\.port: tls and tcp both on/);
  assert.match(issues({ udp: { host: '0.0.0.0:514' } }).join(), /udp\.host: not an address/);
  assert.deepEqual(issues({ udp: {} }), []);
  const d = syslogSourceSchema.parse({ type: 'syslog', name: 's', udp: {} });
  assert.deepEqual([d.udp?.host, d.udp?.port, d.maxMessageBytes, d.topic], ['127.0.0.1', 5514, 8192, 'syslog/${hostname}/${appName}']);
});

test('a port taken: the start fails with GH_SYSLOG_SOURCE_LISTEN naming the transport, nothing left listening', async (t) => {
  const first = await syslogRig(t);
  const err = await syslogRig(t, { udp: { port: 0 }, tcp: { port: first.tcp } }).catch((e: unknown) => e as { code?: string; message?: string });
  assert.equal((err as { code?: string }).code, 'GH_SYSLOG_SOURCE_LISTEN');
  assert.match(String((err as Error).message), /cannot listen on tcp 127\.0\.0\.1:\d+/);
});

test('publishLocal: each message is published on the broker once committed, not before', async (t) => {
  const published: Array<[string, string]> = [];
  const rig = await syslogRig(t, { publishLocal: true }, { publish: (topic, payload) => published.push([topic, payload.toString()]) });
  rig.intake.hold();
  await sendUdp(rig.udp, ['<13>Dec  7 14:18:34 ups-1 apcupsd: on battery']);
  await waitUntil(() => rig.intake.messages.length === 1, 'submitted');
  assert.equal(published.length, 0, 'not before its commit');
  rig.intake.release();
  await waitUntil(() => published.length === 1, 'published');
  assert.equal(published[0]![0], 'syslog/ups-1/apcupsd');
  assert.equal((JSON.parse(published[0]![1]) as { message: string }).message, 'on battery');
});

test('IPv6: udp and tcp on ::1 take messages, the sender as an IPv6 address; allow with an IPv6 range', async (t) => {
  const why = await noIpv6Loopback();
  if (why) return t.skip(why);
  const rig = await syslogRig(t, { udp: { host: '::1', port: 0 }, tcp: { host: '::1', port: 0 }, allow: ['::1/128'] });
  const u = createSocket('udp6');
  await new Promise<void>((r, j) => u.send('<13>v6: over udp', rig.udp, '::1', (e) => (e ? j(e) : r())));
  u.close();
  const s = connect(rig.tcp, '::1');
  t.after(() => s.destroy());
  await once(s, 'connect');
  s.end('<13>v6: over tcp\n');
  const got = await waitUntil(async () => ((await rig.committed()).length === 2 ? rig.committed() : undefined), 'both committed');
  assert.deepEqual(got.map((m) => [m.sender, m.transport, m.topic]).sort(), [
    ['::1', 'tcp', 'syslog/::1/v6'],
    ['::1', 'udp', 'syslog/::1/v6'],
  ]);
});

test('the wrong port: a TLS client on the tcp port is closed and counted (tls-on-tcp), not kept as messages of binary; a plain sender on the tls port is counted (tls-failed) and said in the log', async (t) => {
  const dir = (await syslogRig(t)).dir;
  const { cert, key } = opensslSelfSigned(dir);
  const rig = await syslogRig(t, { tls: { port: 0, cert, key } });
  const warnings: string[] = [];
  const warn = rig.deps.logger.warn.bind(rig.deps.logger);
  rig.deps.logger.warn = ((...args: Parameters<typeof warn>) => {
    warnings.push(String(args.find((a) => typeof a === 'string')));
    return warn(...args);
  }) as typeof warn;
  // a real TLS client (as rsyslog's gtls) sent to the tcp port: its ClientHello holds line feeds
  const wrong = tlsConnect({ port: rig.tcp, host: '127.0.0.1', rejectUnauthorized: false });
  t.after(() => wrong.destroy());
  const failed = await withTimeout(new Promise<Error>((r) => wrong.once('error', r)), 5000, 'the TLS client refused');
  assert.ok(failed instanceof Error);
  // a plain message on the same port afterwards is taken: the listener is not harmed
  await logger(rig.tcp, ['--tcp', '--rfc3164', '-t', 'app'], 'plain after tls');
  const got = await waitUntil(async () => ((await rig.committed()).length >= 1 ? rig.committed() : undefined), 'committed');
  assert.deepEqual(
    got.map((m) => [m.format, m.message]),
    [['rfc3164', 'plain after tls']],
    'the ClientHello is no message (it was kept as format unknown before)',
  );
  const details = () => rig.source.status().details as { connectionOutcomes: Record<string, number>; listening: Record<string, string> };
  assert.equal(details().connectionOutcomes['tls-on-tcp'], 1);
  assert.equal(
    await metricValue(rig.deps.registry, 'gatehouse_syslog_source_connections_total', { source: 'cabinet', transport: 'tcp', outcome: 'tls-on-tcp' }),
    1,
  );
  assert.ok(
    warnings.some((w) => w.includes('a TLS client connected to the tcp port') && w.includes(details().listening.tls!)),
    `the log names the tls port: ${warnings.join(' | ')}`,
  );
  // plain syslog (logger has no TLS) to the tls port: the handshake fails; said, with both ways to fix it
  await logger(rig.tls, ['--tcp', '--rfc3164', '-t', 'app'], 'plain to tls').catch(() => undefined);
  await waitUntil(() => (details().connectionOutcomes['tls-failed'] === 1 ? true : undefined), 'tls-failed counted');
  assert.ok(
    warnings.some((w) => w.includes('a TLS handshake failed') && w.includes('plain TCP to the tls port')),
    `the log says a plain sender on the tls port: ${warnings.join(' | ')}`,
  );
  assert.equal((await rig.committed()).length, 1);
});

test('a UDP flood past the receive buffer: what the kernel dropped is counted (dropped{reason="receive-buffer"}, status, metrics), every datagram sent accounted for', async (t) => {
  const rig = await syslogRig(t, { udp: { port: 0, receiveBufferBytes: 65_536 } });
  const st = () => rig.source.status().details as { dropped: Record<string, number>; messages: number; udpReceiveBufferBytes?: number };
  assert.ok((st().udpReceiveBufferBytes ?? 0) >= 65_536, `the buffer asked for is in the status (${st().udpReceiveBufferBytes})`);
  const sent = 5000;
  // Another process sends while this one's event loop is blocked (execFileSync): the gateway
  // reads nothing meanwhile, so past ~128 KiB of datagrams the kernel drops them, as in a flood.
  const sender = `const s=require('dgram').createSocket('udp4');let n=0;const m=Buffer.from('<13>Dec  7 14:18:34 vm flood: '+'x'.repeat(200));
    (function go(){ if(n===${sent}) return s.close(); s.send(m,${rig.udp},'127.0.0.1',()=>{n++;go();}); })();`;
  execFileSync(process.execPath, ['-e', sender], { timeout: 30_000 });
  const accounted = () => {
    const d = st();
    return d.messages + (d.dropped['receive-buffer'] ?? 0) + (d.dropped.busy ?? 0);
  };
  await waitUntil(() => accounted() === sent || undefined, `all ${sent} datagrams committed or counted as dropped`, 30_000);
  const kernel = st().dropped['receive-buffer'] ?? 0;
  assert.ok(kernel > sent / 2, `most were dropped by the kernel (${kernel}), and counted`);
  assert.equal((await rig.committed()).length, st().messages, 'what was not dropped is in the store');
  assert.equal(await metricValue(rig.deps.registry, 'gatehouse_syslog_source_dropped_total', { reason: 'receive-buffer' }), kernel);
});
