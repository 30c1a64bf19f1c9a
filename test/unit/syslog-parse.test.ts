// The syslog parser (gateway/pipeline/sources/syslog/parse.ts) on what real senders send (the
// lines are util-linux logger's, rsyslog's and busybox's, captured) and on what they should not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSyslog } from '../../gateway/pipeline/sources/syslog/parse.js';
import { kernelUdpDrops, procAddress } from '../../gateway/pipeline/sources/syslog/udp-drops.js';

const NOW = new Date('2026-12-07T14:00:00Z');
const p = (s: string | Buffer) => parseSyslog(typeof s === 'string' ? Buffer.from(s) : s, NOW);

test('RFC 5424 from logger --rfc5424: header, structured data (two elements), message', () => {
  const { record, invalidUtf8 } = p(
    '<13>1 2026-12-07T14:18:34.100180+00:00 vm myapp 17503 - [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry"] hello 5424',
  );
  assert.equal(invalidUtf8, false);
  assert.deepEqual(record, {
    format: 'rfc5424',
    facility: 1,
    facilityName: 'user',
    severity: 5,
    severityName: 'notice',
    timestamp: '2026-12-07T14:18:34.100Z',
    hostname: 'vm',
    appName: 'myapp',
    procId: '17503',
    msgId: null,
    structuredData: { timeQuality: { tzKnown: '1', isSynced: '0' }, 'zoo@123': { tiger: 'hungry' } },
    message: 'hello 5424',
  });
});

test('RFC 5424: NILVALUEs everywhere, a zone offset, escapes in SD values, a BOM before the message, no message', () => {
  const r = p('<165>1 - - - - - -').record;
  assert.equal(r.format, 'rfc5424');
  assert.equal(r.facilityName, 'local4');
  assert.equal(r.severityName, 'notice');
  assert.deepEqual([r.timestamp, r.hostname, r.appName, r.procId, r.msgId, r.message], [null, null, null, null, null, '']);
  assert.deepEqual(r.structuredData, {});
  const e = p(
    Buffer.concat([
      Buffer.from(
        '<34>1 2003-10-11T22:14:15.003+02:00 mymachine.example.com su - ID47 [exampleSDID@32473 iut="3" eventSource="Appli\\"cation\\]" x="a\\\\b\\c" ip="1" ip="2"] ',
      ),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from("'su root' failed for lonvick on /dev/pts/8"),
    ]),
  ).record;
  assert.equal(e.timestamp, '2003-10-11T20:14:15.003Z');
  assert.equal(e.msgId, 'ID47');
  assert.deepEqual(e.structuredData, { 'exampleSDID@32473': { iut: '3', eventSource: 'Appli"cation]', x: 'a\\b\\c', ip: ['1', '2'] } });
  assert.equal(e.message, "'su root' failed for lonvick on /dev/pts/8");
  assert.equal(e.severityName, 'crit');
  assert.equal(e.facilityName, 'auth');
});

test('RFC 3164: logger --rfc3164 (host), busybox syslogd -R (no host), rsyslog ForwardFormat (RFC 3339), a year, a PID, no timestamp', () => {
  const withHost = p('<13>Dec  7 14:18:34 vm myapp: hello 3164').record;
  assert.equal(withHost.format, 'rfc3164');
  assert.deepEqual([withHost.hostname, withHost.appName, withHost.procId, withHost.message], ['vm', 'myapp', null, 'hello 3164']);
  assert.equal(withHost.timestamp, new Date(2026, 11, 7, 14, 18, 34).toISOString(), "the gateway's local time");
  const busybox = p('<30>Dec  7 14:18:34 udhcpc[1234]: lease of 10.0.0.9 obtained').record;
  assert.deepEqual([busybox.hostname, busybox.appName, busybox.procId, busybox.message], [null, 'udhcpc', '1234', 'lease of 10.0.0.9 obtained']);
  assert.equal(busybox.facilityName, 'daemon');
  assert.equal(busybox.severityName, 'info');
  const fwd = p('<86>2026-12-07T14:18:34.123456+01:00 gw-3 sshd[99]: Accepted publickey').record;
  assert.deepEqual([fwd.timestamp, fwd.hostname, fwd.appName, fwd.procId], ['2026-12-07T13:18:34.123Z', 'gw-3', 'sshd', '99']);
  const year = p('<189>Dec 07 2025 13:00:00 switch-1 %LINK-3-UPDOWN: Interface Gi0/1, changed state to up').record;
  assert.equal(year.timestamp, new Date(2025, 11, 7, 13, 0, 0).toISOString());
  assert.equal(year.hostname, 'switch-1');
  assert.equal(year.appName, '%LINK-3-UPDOWN');
  const bare = p('<14>myapp: started').record;
  assert.deepEqual([bare.format, bare.timestamp, bare.hostname, bare.appName, bare.message], ['rfc3164', null, null, 'myapp', 'started']);
  const plain = p('<14>just text here').record;
  assert.deepEqual([plain.format, plain.appName, plain.message], ['rfc3164', null, 'just text here']);
});

test('RFC 3164: a December timestamp read on the 2nd of January is last year', () => {
  const r = parseSyslog(Buffer.from('<13>Dec 31 23:59:59 h a: x'), new Date(2027, 0, 2)).record;
  assert.equal(r.timestamp, new Date(2026, 11, 31, 23, 59, 59).toISOString());
});

test('neither: no PRI, a PRI over 191 or with a leading zero, a version-1 header that does not parse: kept whole as format unknown, user.notice', () => {
  for (const line of [
    'hello world',
    '<192>Dec  7 14:18:34 vm x: y',
    '<013>x',
    '<13>1 not-a-time host app - - - msg',
    '<13>1 2026-12-07T14:18:34Z host app - - [broken sd',
    '<13>1 2026-12-07T14:18:34Z host',
    '',
  ]) {
    const r = p(line).record;
    assert.equal(r.format, 'unknown', line);
    assert.equal(r.message, line, 'kept whole');
    assert.deepEqual([r.facility, r.severity], [1, 5]);
  }
});

test('invalid UTF-8 is kept with U+FFFD and said; trailing LF, CR and NUL are not the message', () => {
  const { record, invalidUtf8 } = p(Buffer.concat([Buffer.from('<13>Dec  7 14:18:34 vm app: bad '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('\r\n\0')]));
  assert.equal(invalidUtf8, true);
  assert.equal(record.format, 'rfc3164');
  assert.equal(record.message, 'bad \uFFFD\uFFFD\uFFFD');
});

test('an SD-ID of __proto__ stays data', () => {
  const r = p('<13>1 - h a - - [__proto__ polluted="yes"] m').record;
  assert.equal(JSON.stringify(r.structuredData), '{"__proto__":{"polluted":"yes"}}');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("a socket's address as /proc/net/udp and udp6 write it (the kernel's drop count is read by it)", () => {
  assert.equal(procAddress('127.0.0.1', 5514), '0100007F:158A');
  assert.equal(procAddress('0.0.0.0', 514), '00000000:0202');
  assert.equal(procAddress('::', 5514), '00000000000000000000000000000000:158A');
  assert.equal(procAddress('::1', 5514), '00000000000000000000000001000000:158A');
  assert.equal(procAddress('fd00::7', 1), '000000FD000000000000000007000000:0001');
  assert.equal(procAddress('::ffff:10.1.2.3', 1), '0000000000000000FFFF00000302010A:0001');
  const proc = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    ` 8671: 0100007F:158A 00000000:0000 07 00000000:00000000 00:00000000 00000000 ${process.getuid?.() ?? 0}        0 3064589 2 00000000c55935c1 42`,
  ].join('\n');
  assert.equal(
    kernelUdpDrops('127.0.0.1', 5514, () => proc),
    42,
  );
  assert.equal(
    kernelUdpDrops('127.0.0.1', 5515, () => proc),
    undefined,
  );
});

test("Cisco IOS's form: the message counter is msgId, not the app (one topic per message); the %FAC-SEV-MNEMONIC is the app; its time, host and zone", () => {
  const now = new Date('2026-12-07T23:00:00Z');
  const a = parseSyslog(Buffer.from('<189>52: *Dec  7 22:47:11.443: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)'), now).record;
  assert.deepEqual(
    [a.format, a.severityName, a.hostname, a.appName, a.msgId, a.procId, a.message],
    ['rfc3164', 'notice', null, '%SYS-5-CONFIG_I', '52', null, 'Configured from console by vty0 (10.0.0.9)'],
  );
  assert.equal(a.timestamp, new Date(2026, 11, 7, 22, 47, 11, 443).toISOString(), "the gateway's zone, as any RFC 3164 time");
  // service sequence-numbers, logging origin-id hostname, show-timezone year
  const b = parseSyslog(
    Buffer.from('<187>1234: 000045: sw-core-1: Dec  7 2025 22:50:02.123 UTC: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down'),
    now,
  ).record;
  assert.deepEqual(
    [b.hostname, b.appName, b.msgId, b.timestamp, b.message],
    ['sw-core-1', '%LINK-3-UPDOWN', '1234', '2025-12-07T22:50:02.123Z', 'Interface Gi0/1, changed state to down'],
  );
  // no service timestamps
  const c = parseSyslog(Buffer.from('<189>7: %SYS-5-RESTART: System restarted'), now).record;
  assert.deepEqual([c.timestamp, c.appName, c.msgId, c.message], [null, '%SYS-5-RESTART', '7', 'System restarted']);
  // not Cisco's: a TAG of digits stays a TAG
  const d = parseSyslog(Buffer.from('<13>1234: hello'), now).record;
  assert.deepEqual([d.appName, d.msgId, d.message], ['1234', null, 'hello']);
});
