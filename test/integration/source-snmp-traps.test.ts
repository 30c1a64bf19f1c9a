// The snmp source's trap listener with the real senders of Debian's `snmp` package: v1 and v2c
// traps, v2c and v3 informs (answered only once committed: an inform whose commit is held gets no
// answer until it is released; one whose commit is refused gets none, and snmpinform fails), v3
// traps; faults: garbage datagrams, an unknown community, a flood past maxInFlight (bounded, counted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { metricValue, tempDir, waitUntil } from '../helpers/index.js';
import { V3, snmpRig, snmpSkip, snmpTool } from '../helpers/snmp-rig.js';
import { sendUdp } from '../helpers/syslog-rig.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const skip = snmpSkip;
const V3_ARGS = ['-u', V3.user, '-l', 'authPriv', '-a', 'SHA', '-A', V3.auth, '-x', 'AES', '-X', V3.priv];

function trapRig(t: Parameters<typeof snmpRig>[0], more: Record<string, unknown> = {}) {
  return snmpRig(t, { traps: { port: 0, communities: ['public'], ...more } });
}

test('v1 and v2c traps and a v2c inform arrive committed with their varbinds, on their topics', { skip, timeout: 60_000 }, async (t) => {
  const rig = await trapRig(t);
  const to = `127.0.0.1:${rig.trapPort}`;
  // v1: enterprise, agent address, generic 6 (enterprise-specific), specific 17, uptime
  assert.equal(
    (await snmpTool('snmptrap', ['-v1', '-c', 'public', to, '1.3.6.1.4.1.99999', '10.0.0.5', '6', '17', '4242', '1.3.6.1.4.1.99999.2.1', 's', 'on battery']))
      .code,
    0,
  );
  // v2c: upsTrapOnBattery with upsEstimatedMinutesRemaining.0 = 12
  assert.equal((await snmpTool('snmptrap', ['-v2c', '-c', 'public', to, '777', '1.3.6.1.2.1.33.2.1', '1.3.6.1.2.1.33.1.2.3.0', 'i', '12'])).code, 0);
  // an inform: snmpinform exits 0 only once it is answered
  const inform = await snmpTool('snmpinform', ['-v2c', '-c', 'public', '-t', '5', '-r', '0', to, '', '1.3.6.1.6.3.1.1.5.3', '1.3.6.1.2.1.2.2.1.1.2', 'i', '2']);
  assert.equal(inform.code, 0, inform.stderr);
  const all = await waitUntil(
    async () => {
      const c = await rig.committed();
      return c.length === 3 ? c : undefined;
    },
    'three traps committed',
    10_000,
  );
  const v1 = all.find((m) => m.version === '1')!;
  assert.equal(v1.topic, 'snmp/traps/10.0.0.5/1.3.6.1.4.1.99999.0.17');
  assert.equal(v1.trapOid, '1.3.6.1.4.1.99999.0.17', 'RFC 3584: enterprise.0.specific');
  assert.equal(v1.agent, '10.0.0.5');
  assert.equal(v1.uptime, 4242);
  assert.deepEqual(v1.varbinds, [{ oid: '1.3.6.1.4.1.99999.2.1', name: '1.3.6.1.4.1.99999.2.1', type: 'OctetString', value: 'on battery' }]);
  const v2 = all.find((m) => m.version === '2c' && m.inform === false)!;
  assert.equal(v2.topic, 'snmp/traps/127.0.0.1/upsTrapOnBattery');
  assert.equal(v2.uptime, 777);
  assert.deepEqual(v2.varbinds, [{ oid: '1.3.6.1.2.1.33.1.2.3.0', name: 'upsEstimatedMinutesRemaining.0', type: 'Integer', value: 12 }]);
  const inf = all.find((m) => m.inform === true)!;
  assert.equal(inf.trapName, 'linkDown');
  assert.deepEqual(inf.varbinds, [{ oid: '1.3.6.1.2.1.2.2.1.1.2', name: 'ifIndex.2', type: 'Integer', value: 2 }]);
  const traps = rig.details().traps!;
  assert.equal(traps.informsAnswered, 1);
  assert.equal((traps.outcomes as Record<string, number>).committed, 3);
});

test('an inform is answered only once committed: held, no answer; refused, none at all (the sender retries)', { skip, timeout: 60_000 }, async (t) => {
  const rig = await trapRig(t);
  const to = `127.0.0.1:${rig.trapPort}`;
  rig.intake.hold();
  // the commit is held: snmpinform (one try, 1 s) gets no answer and fails, though its inform was submitted
  const held = await snmpTool('snmpinform', ['-v2c', '-c', 'public', '-t', '1', '-r', '0', to, '', '1.3.6.1.6.3.1.1.5.4']);
  assert.notEqual(held.code, 0);
  assert.match(held.stderr, /Timeout/i);
  assert.equal(rig.intake.messages.length, 1, 'submitted');
  assert.equal(rig.details().traps?.informsAnswered, 0);
  rig.intake.release();
  await waitUntil(() => rig.details().traps?.informsAnswered === 1, 'answered once committed', 5000);
  // committed at once: answered, snmpinform succeeds
  const r = await snmpTool('snmpinform', ['-v2c', '-c', 'public', '-t', '5', '-r', '0', to, '', '1.3.6.1.6.3.1.1.5.4']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rig.details().traps?.informsAnswered, 2);
  // a refused commit: no answer at all, snmpinform times out
  rig.intake.rejectWith(new Error('test: append refused'));
  const refused = await snmpTool('snmpinform', ['-v2c', '-c', 'public', '-t', '1', '-r', '0', to, '', '1.3.6.1.6.3.1.1.5.4']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Timeout/i);
  assert.equal(rig.details().traps?.informsAnswered, 2);
  assert.ok((((rig.details().traps?.outcomes ?? {}) as Record<string, number>).refused ?? 0) >= 1);
});

test('v3 traps and informs of a configured user (authPriv) are taken; an unknown community is dropped and counted', { skip, timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-snmp-keys-');
  const auth = join(dir, 'auth');
  const priv = join(dir, 'priv');
  await writeFile(auth, `${V3.auth}\n`);
  await writeFile(priv, `${V3.priv}\n`);
  const rig = await trapRig(t, { users: [{ name: V3.user, level: 'authPriv', authKeyFile: auth, privKeyFile: priv }] });
  const to = `127.0.0.1:${rig.trapPort}`;
  const inform = await snmpTool('snmpinform', ['-v3', ...V3_ARGS, '-t', '5', '-r', '0', to, '', '1.3.6.1.6.3.1.1.5.1']);
  assert.equal(inform.code, 0, inform.stderr);
  const trap = await snmpTool('snmptrap', ['-v3', '-e', '0x8000000001020304', ...V3_ARGS, to, '', '1.3.6.1.6.3.1.1.5.2', '1.3.6.1.2.1.1.5.0', 's', 'ups-1']);
  assert.equal(trap.code, 0, trap.stderr);
  assert.equal((await snmpTool('snmptrap', ['-v2c', '-c', 'wrong-but-near-s3cret', to, '', '1.3.6.1.6.3.1.1.5.1'])).code, 0);
  const all = await waitUntil(
    async () => {
      const c = await rig.committed();
      return c.length === 2 ? c : undefined;
    },
    'two v3 traps committed',
    10_000,
  );
  assert.deepEqual(all.map((m) => [m.version, m.user, m.trapName]).sort(), [
    ['3', V3.user, 'coldStart'],
    ['3', V3.user, 'warmStart'],
  ]);
  await waitUntil(() => ((rig.details().traps?.outcomes ?? {}) as Record<string, number>).unauthorised === 1, 'the wrong community counted', 5000);
  // Logged without the community it carried (a device's community for another system, a typo of ours).
  await waitUntil(() => /unknown community or user/.test(rig.log()), 'the drop logged', 5000);
  assert.doesNotMatch(rig.log(), /wrong-but-near-s3cret/, 'the community a trap carried is not logged');
});

test('garbage datagrams and a trap flood past maxInFlight: bounded, counted, no crash', { skip, timeout: 60_000 }, async (t) => {
  const rig = await trapRig(t, { maxInFlight: 5 });
  // the bytes of one real v2c trap, caught on a socket of ours, then sent 200 times at once
  const catcher = createSocket('udp4');
  catcher.bind(0, '127.0.0.1');
  await once(catcher, 'listening');
  t.after(() => catcher.close());
  const caught = once(catcher, 'message');
  await snmpTool('snmptrap', ['-v2c', '-c', 'public', `127.0.0.1:${catcher.address().port}`, '', '1.3.6.1.6.3.1.1.5.3']);
  const [bytes] = (await caught) as [Buffer];
  await sendUdp(rig.trapPort, [
    Buffer.from('not snmp at all'),
    Buffer.alloc(0),
    Buffer.from([0x30, 0x82, 0xff, 0xff, 0x02]),
    bytes.subarray(0, bytes.length - 3),
  ]);
  await waitUntil(() => (((rig.details().traps?.outcomes ?? {}) as Record<string, number>).invalid ?? 0) >= 3, 'garbage counted', 5000);
  rig.intake.hold();
  await sendUdp(
    rig.trapPort,
    Array.from({ length: 200 }, () => bytes),
  );
  const outcomes = () => rig.details().traps?.outcomes as Record<string, number>;
  await waitUntil(() => (outcomes().busy ?? 0) >= 150, 'the flood dropped past maxInFlight', 5000);
  assert.equal(rig.intake.messages.length, 5, 'only maxInFlight submitted while held');
  rig.intake.release();
  await waitUntil(() => outcomes().committed === 5, 'the five committed', 5000);
  assert.equal(await metricValue(rig.deps.registry, 'gatehouse_snmp_source_traps_total', { outcome: 'committed' }), 5);
  // still taking traps
  assert.equal((await snmpTool('snmptrap', ['-v2c', '-c', 'public', `127.0.0.1:${rig.trapPort}`, '', '1.3.6.1.6.3.1.1.5.4'])).code, 0);
  await waitUntil(() => outcomes().committed === 6, 'a trap after the flood', 5000);
});

test('a trap port already taken fails the start with GH_SNMP_SOURCE_LISTEN naming the port', { skip, timeout: 30_000 }, async (t) => {
  const holder = createSocket('udp4');
  holder.bind(0, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const port = holder.address().port;
  await assert.rejects(
    trapRig(t, { port }),
    (err: Error & { code?: string; where?: string }) =>
      err.code === 'GH_SNMP_SOURCE_LISTEN' && err.where === 'sources.cabinet.traps.port' && err.message.includes(`127.0.0.1:${port}`),
  );
});

test('a trap from a sender outside allow is dropped and counted (denied)', { skip, timeout: 30_000 }, async (t) => {
  const rig = await trapRig(t, { allow: ['192.168.10.0/24'] });
  assert.equal((await snmpTool('snmptrap', ['-v2c', '-c', 'public', `127.0.0.1:${rig.trapPort}`, '', '1.3.6.1.6.3.1.1.5.1'])).code, 0);
  await waitUntil(() => ((rig.details().traps?.outcomes ?? {}) as Record<string, number>).denied === 1, 'denied counted', 5000);
  assert.equal(rig.intake.messages.length, 0);
});
