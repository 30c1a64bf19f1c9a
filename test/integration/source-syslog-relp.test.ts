// RELP sessions on a syslog source over a real store, driven by a raw TCP client speaking the
// frames omrelp sends (test/unit/syslog-relp-frames.test.ts has a capture): the answer to a
// message comes only once it is committed, answers keep the commands' order, a refusal is a 500,
// a stop answers what is committed and says serverclose, protocol errors close the connection.
// rsyslog's own omrelp against a gateway killed -9 is in source-syslog-relp-rsyslog.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { ERRORS } from '../../core/errors.js';
import { rawTcp, syslogRig } from '../helpers/syslog-rig.js';
import { waitUntil } from '../helpers/index.js';

const OPEN = 'relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog';

function frame(txnr: number, command: string, data = ''): string {
  const len = Buffer.byteLength(data);
  return len === 0 ? `${txnr} ${command} 0\n` : `${txnr} ${command} ${len} ${data}\n`;
}

/** Everything the server wrote to this socket so far, and whether it ended. */
function received(s: Socket): { text(): string; ended(): boolean } {
  let text = '';
  let ended = false;
  s.on('data', (d: Buffer) => {
    text += d.toString();
  });
  s.on('close', () => {
    ended = true;
  });
  return { text: () => text, ended: () => ended };
}

async function opened(t: Parameters<typeof rawTcp>[0], port: number) {
  const s = await rawTcp(t, port);
  const r = received(s);
  s.write(frame(1, 'open', OPEN));
  await waitUntil(() => r.text().includes('\n1 rsp') || r.text().startsWith('1 rsp') || undefined, 'the open answered', 5000, 5);
  return { s, r };
}

test('open is answered 200 OK with relp_version, relp_software=gatehouse and the syslog command', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const { r } = await opened(t, rig.relp);
  const data = 'relp_version=0\nrelp_software=gatehouse\ncommands=syslog';
  assert.equal(r.text(), `1 rsp ${7 + data.length} 200 OK\n${data}\n`);
});

test('a message is answered only once committed: while its commit is held nothing comes back, and when 200 OK comes the record is in the store', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const { s, r } = await opened(t, rig.relp);
  const before = r.text();
  rig.intake.hold();
  const submitted = rig.intake.nextSubmit();
  s.write(frame(2, 'syslog', '<13>Dec  7 17:00:00 ups1 upsd: on battery n=1'));
  s.write(frame(3, 'foo'));
  await submitted;
  // A second session's open answered: the first socket's bytes were read meanwhile.
  await opened(t, rig.relp);
  assert.equal(r.text(), before, 'neither the held message nor the command after it answered (answers keep the order)');
  assert.deepEqual(await rig.committed(), []);
  rig.intake.release();
  await waitUntil(() => r.text().includes('3 rsp') || undefined, 'both answered', 5000, 5);
  const committed = await rig.committed();
  assert.equal(committed.length, 1);
  assert.equal(committed[0]!.message, 'on battery n=1');
  assert.equal(committed[0]!.transport, 'relp');
  assert.equal(r.text().slice(before.length), "2 rsp 6 200 OK\n3 rsp 31 500 command 'foo' not supported\n");
});

test('close is answered after the messages before it, then serverclose and the end of the connection', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const { s, r } = await opened(t, rig.relp);
  const before = r.text();
  s.write(
    frame(2, 'syslog', '<14>1 2026-12-07T17:00:00Z sw1 app - - - one') + frame(3, 'syslog', '<14>1 2026-12-07T17:00:00Z sw1 app - - - two') + frame(4, 'close'),
  );
  await waitUntil(() => r.ended() || undefined, 'the server ends the session', 5000, 5);
  assert.equal(r.text().slice(before.length), '2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 0\n0 serverclose 0\n');
  assert.deepEqual(
    (await rig.committed()).map((m) => m.message),
    ['one', 'two'],
  );
});

test('a commit refused for good is answered 500 with the code (rsyslog sends it again later); the session goes on', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const { s, r } = await opened(t, rig.relp);
  rig.intake.rejectWith(ERRORS.GH_INTERNAL({ reason: 'a test refusal\nover two lines' }));
  s.write(frame(2, 'syslog', '<13>Dec  7 17:00:00 h a: x'));
  await waitUntil(() => r.text().includes('2 rsp') || undefined, 'answered', 5000, 5);
  assert.match(r.text(), /2 rsp \d+ 500 GH_INTERNAL: [^\n]*a test refusal over two lines[^\n]*\n$/);
  rig.intake.rejectWith(undefined);
  s.write(frame(3, 'syslog', '<13>Dec  7 17:00:00 h a: y'));
  await waitUntil(() => r.text().includes('3 rsp 6 200 OK\n') || undefined, 'the next one committed and answered', 5000, 5);
  assert.equal((rig.source.status().details as { dropped: Record<string, number> }).dropped.refused, 1);
});

test('a stop answers the committed, leaves the held one unanswered (the client sends it again), says serverclose and ends', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 }, stopDrainMs: 200 });
  const { s, r } = await opened(t, rig.relp);
  s.write(frame(2, 'syslog', '<13>Dec  7 17:00:00 h a: committed'));
  await waitUntil(() => r.text().includes('2 rsp 6 200 OK') || undefined, 'the first committed', 5000, 5);
  rig.intake.hold();
  const submitted = rig.intake.nextSubmit();
  s.write(frame(3, 'syslog', '<13>Dec  7 17:00:00 h a: held'));
  await submitted;
  await rig.source.stop();
  rig.intake.release();
  await waitUntil(() => r.ended() || undefined, 'the connection ends', 5000, 5);
  assert.doesNotMatch(r.text(), /3 rsp/, 'no answer for the message not committed by the stop');
});

test('protocol errors close the connection and are counted: garbage, a command before open, a second open, a DATALEN that lies', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const cases = [
    ['garbage', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['before open', frame(1, 'syslog', '<13>x')],
    ['second open', frame(1, 'open', OPEN) + frame(2, 'open', OPEN)],
    ['lying DATALEN', `${frame(1, 'open', OPEN)}2 syslog 3 abcdef\n`],
  ] as const;
  for (const [name, bytes] of cases) {
    const s = await rawTcp(t, rig.relp);
    const r = received(s);
    s.write(bytes);
    await waitUntil(() => r.ended() || undefined, `${name}: closed`, 5000, 5);
    assert.doesNotMatch(r.text(), /^2 rsp|\n2 rsp/, `${name}: nothing answered after the error`);
  }
  const outcomes = (rig.source.status().details as { connectionOutcomes: Record<string, number> }).connectionOutcomes;
  assert.equal(outcomes['protocol-error'], cases.length, JSON.stringify(outcomes));
  assert.deepEqual(await rig.committed(), []);
});

test('an unsupported relp_version is answered 500 and the session closed', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const s = await rawTcp(t, rig.relp);
  const r = received(s);
  s.write(frame(1, 'open', 'relp_version=7\ncommands=syslog'));
  await waitUntil(() => r.ended() || undefined, 'closed', 5000, 5);
  assert.equal(r.text(), '1 rsp 40 500 relp_version 7 not supported: 0 or 1\n0 serverclose 0\n');
});

test('a commit the store refuses for now (stream full) is retried, the answer waiting: 200 OK once committed, never a 500', async (t) => {
  const rig = await syslogRig(t, { udp: undefined, tcp: undefined, relp: { port: 0 } });
  const { s, r } = await opened(t, rig.relp);
  const before = r.text();
  rig.intake.rejectWith(ERRORS.GH_STREAM_FULL({ stream: 'in', held: 1, maxBytes: 1, pending: 0, reason: 'test' }));
  s.write(frame(2, 'syslog', '<13>Dec  7 17:00:00 h a: kept through a full stream'));
  await waitUntil(() => (rig.source.status().details as { commitRetries: number }).commitRetries >= 2 || undefined, 'retried twice', 5000, 20);
  assert.equal(r.text(), before, 'no answer while the store refuses');
  rig.intake.rejectWith(undefined);
  await waitUntil(() => r.text().includes('2 rsp') || undefined, 'answered', 5000, 5);
  assert.equal(r.text().slice(before.length), '2 rsp 6 200 OK\n');
  assert.equal((await rig.committed())[0]!.message, 'kept through a full stream');
});
