// The snmp source's polls against a real agent (Debian snmpd): scalars, ifTable rows, a value that
// changes between polls, v3 authPriv, a wrong community (a timeout, its hint), a wrong v3
// passphrase (a report), an agent stopped and started again mid-run (one outage said once, polls
// resume), a huge table capped at maxRows, a poll overrunning its interval (skipped, counted), a
// stop that does not wait out a silent target, a start failing on a missing passphrase file.
import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { metricValue, tempDir, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { snmpSourceKind } from '../../gateway/pipeline/sources/snmp/index.js';
import { EXTEND_LINES, PASS_OID, V3, snmpRig, snmpSkip, snmpd } from '../helpers/snmp-rig.js';

const skip = snmpSkip;

test('polls scalars and ifTable rows from snmpd (v2c); a changed value is read at the next poll; committed', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const rig = await snmpRig(t, {
    targets: [{ name: 'agent', host: '127.0.0.1', port: agent.port, version: '2c', community: 'public' }],
    polls: [
      {
        name: 'system',
        intervalMs: 300,
        fields: {
          name: 'sysName.0',
          location: '1.3.6.1.2.1.1.6.0',
          contact: 'sysContact.0',
          uptime: 'sysUpTime.0',
          counter: PASS_OID,
          absent: '1.3.6.1.2.1.1.99.0',
        },
        tables: [{ name: 'interfaces', columns: { descr: 'ifDescr', type: 'ifType', in: 'ifInOctets', mac: 'ifPhysAddress' } }],
      },
    ],
  });
  const first = await waitUntil(async () => (await rig.committed())[0], 'a committed poll', 15_000);
  assert.equal(first.topic, 'snmp/agent/system');
  assert.equal(first.target, 'agent');
  assert.equal(first.poll, 'system');
  const fields = first.fields as Record<string, unknown>;
  assert.equal(fields.name, 'gatehouse-test');
  assert.equal(fields.location, 'cabinet-3');
  assert.equal(typeof fields.uptime, 'number');
  assert.equal(fields.counter, 42);
  assert.equal(fields.absent, null, 'noSuchObject is null');
  assert.deepEqual(first.missing, ['absent']);
  const rows = (first.rows as Record<string, Record<string, Record<string, unknown>>>).interfaces!;
  assert.equal(rows['1']?.descr, 'lo', 'row 1 is the loopback, keyed by its index');
  assert.equal(rows['1']?.type, 24, 'softwareLoopback(24) as a number');
  assert.equal(typeof rows['1']?.in, 'number');
  assert.ok(Object.keys(rows).length >= 1);
  await agent.setContact('ops@depot-7 ✓');
  await waitUntil(
    async () => (await rig.committed()).some((m) => (m.fields as Record<string, unknown>).contact === 'ops@depot-7 ✓'),
    'the new value read',
    15_000,
  );
  const d = rig.details();
  assert.equal(d.targets[0]?.state, 'ok');
  assert.ok((d.targets[0]?.polls as number) >= 2);
  assert.ok((await metricValue(rig.deps.registry, 'gatehouse_snmp_source_missing_values_total', { target: 'agent' })) >= 1);
  assert.ok((await metricValue(rig.deps.registry, 'gatehouse_industrial_values_total', { kind: 'snmp', device: 'agent' })) > 5);
});

test('v3 authPriv polls; a wrong v3 passphrase is a report (GH_SNMP_AUTH), a wrong community a timeout with its hint', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const dir = agent.dir;
  await writeFile(join(dir, 'auth'), `${V3.auth}\n`);
  await writeFile(join(dir, 'priv'), `${V3.priv}\n`);
  await writeFile(join(dir, 'wrong'), 'not-the-passphrase\n');
  await writeFile(join(dir, 'community'), 'private-wrong\n');
  const user = (authKeyFile: string) => ({
    name: V3.user,
    level: 'authPriv',
    authProtocol: 'sha',
    authKeyFile,
    privProtocol: 'aes',
    privKeyFile: join(dir, 'priv'),
  });
  const rig = await snmpRig(t, {
    targets: [
      { name: 'v3', host: '127.0.0.1', port: agent.port, version: '3', user: user(join(dir, 'auth')) },
      { name: 'v3-wrong', host: '127.0.0.1', port: agent.port, version: '3', user: user(join(dir, 'wrong')) },
      { name: 'v2-wrong', host: '127.0.0.1', port: agent.port, version: '2c', communityFile: join(dir, 'community'), timeoutMs: 200, retries: 0 },
    ],
    polls: [{ name: 'sys', intervalMs: 500, fields: { name: 'sysName.0' } }],
  });
  const v3 = await waitUntil(async () => (await rig.committed()).find((m) => m.target === 'v3'), 'a v3 poll committed', 15_000);
  assert.equal((v3.fields as Record<string, unknown>).name, 'gatehouse-test');
  const targets = () => Object.fromEntries(rig.details().targets.map((x) => [x.name as string, x]));
  await waitUntil(() => targets()['v3-wrong']?.state === 'failing' && targets()['v2-wrong']?.state === 'failing', 'both wrong ones failing', 15_000);
  const wrongV3 = targets()['v3-wrong']!;
  assert.match(String(wrongV3.lastError), /refused user 'ghuser'.*Wrong Digest|refused user 'ghuser'.*Decryption/);
  assert.equal((wrongV3.readErrors as Record<string, number>).auth >= 1, true);
  const wrongV2 = targets()['v2-wrong']!;
  assert.match(String(wrongV2.lastError), /did not answer/);
  assert.equal((wrongV2.readErrors as Record<string, number>).timeout >= 1, true);
  assert.match(rig.log(), /"code":"GH_SNMP_NO_ANSWER"[^\n]*a wrong one also times out/, 'the hint says a wrong community also times out');
  // The hint's command runs as written once the community is filled in: this target's host:port and
  // a numeric OID (Debian's snmp tools have no MIB files: `sysUpTime.0` is an Unknown Object Identifier).
  const hinted = /"hint":"[^"]*\((snmpget -v2c -c COMMUNITY [^)"]+)\)/.exec(rig.log())?.[1];
  assert.ok(hinted, 'the hint holds an snmpget command');
  const argv = hinted.split(' ').map((a) => (a === 'COMMUNITY' ? 'public' : a));
  const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /Timeticks/, `the hint's command reads sysUpTime: ${hinted}`);
  assert.ok(!(await rig.committed()).some((m) => m.target !== 'v3'), 'nothing committed for the failing targets');
});

test('an agent stopped and started again mid-run: one outage said once, polls resume, a gap counted', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const rig = await snmpRig(t, {
    targets: [{ name: 'ups', host: '127.0.0.1', port: agent.port, timeoutMs: 100, retries: 0 }],
    polls: [{ name: 'sys', intervalMs: 150, fields: { up: 'sysUpTime.0' } }],
  });
  await waitUntil(async () => (await rig.committed()).length >= 1, 'a first poll', 15_000);
  await agent.stop();
  const failed = () => ((rig.details().targets[0]?.readErrors ?? {}) as Record<string, number>).timeout ?? 0;
  await waitUntil(() => failed() >= 5, 'five polls timed out', 15_000);
  const before = (await rig.committed()).length;
  await agent.start();
  await waitUntil(async () => (await rig.committed()).length > before, 'polls resumed', 15_000);
  await waitUntil(() => rig.details().targets[0]?.gaps === 1, 'the gap counted', 5000);
  const lines = rig.log().split('\n');
  assert.equal(lines.filter((l) => l.includes('snmp target not answering')).length, 1, 'said once, not per poll');
  assert.equal(lines.filter((l) => l.includes('snmp target answering again')).length, 1);
  assert.equal(await metricValue(rig.deps.registry, 'gatehouse_industrial_gaps_total', { kind: 'snmp' }), 1);
  assert.equal(rig.details().targets[0]?.state, 'ok');
});

test('a huge table is capped at maxRows (truncated, counted); a poll overrunning its interval is skipped and counted', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const rig = await snmpRig(t, {
    targets: [
      { name: 'agent', host: '127.0.0.1', port: agent.port },
      // nothing answers there: each run waits 2 x 400 ms, the interval is 200 ms
      { name: 'silent', host: '127.0.0.1', port: 9, timeoutMs: 400, retries: 1 },
    ],
    polls: [
      { name: 'big', targets: ['agent'], intervalMs: 60_000, tables: [{ name: 'lines', columns: { line: EXTEND_LINES }, maxRows: 100 }] },
      { name: 'fast', targets: ['silent'], intervalMs: 200, fields: { up: 'sysUpTime.0' } },
    ],
  });
  const m = await waitUntil(async () => (await rig.committed()).find((x) => x.poll === 'big'), 'the big table', 20_000);
  const rows = (m.rows as Record<string, Record<string, { line: string }>>).lines!;
  assert.equal(Object.keys(rows).length, 100);
  assert.equal(rows['1']?.line, '1');
  assert.deepEqual(m.truncated, ['lines']);
  assert.equal(await metricValue(rig.deps.registry, 'gatehouse_snmp_source_tables_truncated_total'), 1);
  await waitUntil(
    async () => (await metricValue(rig.deps.registry, 'gatehouse_industrial_dropped_total', { kind: 'snmp', reason: 'overrun' })) >= 2,
    'overruns counted',
    10_000,
  );
  const silent = rig.details().targets.find((x) => x.name === 'silent')!;
  assert.ok(((silent.schedules as Array<{ skipped: number }>)[0]?.skipped ?? 0) >= 2);
});

test('stop() does not wait out a silent target (its requests cancelled); a start after it polls again', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const rig = await snmpRig(t, {
    targets: [
      { name: 'agent', host: '127.0.0.1', port: agent.port },
      // nothing answers on the discard port: a run waits 3 x 10 s
      { name: 'silent', host: '127.0.0.1', port: 9, timeoutMs: 10_000, retries: 2 },
    ],
    polls: [{ name: 'sys', intervalMs: 200, fields: { up: 'sysUpTime.0' } }],
  });
  await waitUntil(async () => (await rig.committed()).length >= 1, 'a first poll', 15_000);
  await withTimeout(rig.source.stop(), 5000, 'stop() with a run waiting on a silent target');
  assert.equal(rig.source.status().state, 'stopped');
  const before = (await rig.committed()).length;
  await rig.source.start(rig.intake);
  await waitUntil(async () => (await rig.committed()).length > before, 'polling again after a restart', 15_000);
});

test('a missing v3 passphrase file fails the start (GH_CONFIG_INVALID naming its key); nothing is left open', { skip, timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-snmp-missing-');
  const options = snmpSourceKind.schema.parse({
    type: 'snmp',
    name: 'cabinet',
    targets: [
      { name: 'ok', host: '127.0.0.1' },
      { name: 'sw', host: '127.0.0.1', version: '3', user: { name: 'gh', authKeyFile: join(dir, 'nope'), privKeyFile: join(dir, 'nope') } },
    ],
    polls: [{ name: 'p', fields: { a: 'sysName.0' } }],
    traps: { port: 0, communities: ['public'] },
  });
  const source = await snmpSourceKind.create(options, { ...testDeps(), dataDir: dir });
  await assert.rejects(
    source.start({ submit: () => undefined, commitMeta: async () => undefined, readMeta: async () => undefined, accepting: () => true }),
    (err: Error & { code?: string; where?: string }) => err.code === 'GH_CONFIG_INVALID' && err.where === 'sources.cabinet.targets.1.user.authKeyFile',
  );
  assert.equal(source.status().state, 'failed');
  assert.match(String((source.status().details as { lastError?: string }).lastError), /cannot read/);
  await source.stop();
});

test('v1: GETNEXT walks, and a GET refused for one absent OID (noSuchName) asked again OID by OID', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const rig = await snmpRig(t, {
    targets: [{ name: 'old-ups', host: '127.0.0.1', port: agent.port, version: 1 }],
    polls: [
      {
        name: 'sys',
        intervalMs: 60_000,
        fields: { name: 'sysName.0', absent: '1.3.6.1.2.1.1.99.0', location: 'sysLocation.0' },
        tables: [{ name: 'if', columns: { descr: 'ifDescr' } }],
      },
    ],
  });
  const m = await waitUntil(async () => (await rig.committed())[0], 'a v1 poll', 15_000);
  assert.deepEqual(m.fields, { name: 'gatehouse-test', absent: null, location: 'cabinet-3' });
  assert.deepEqual(m.missing, ['absent']);
  assert.equal((m.rows as Record<string, Record<string, { descr: string }>>).if!['1']?.descr, 'lo');
});

test("privProtocol des where Node's OpenSSL 3 has no DES: the start fails naming the key, not each poll as 'the target refused a request'", {
  skip,
  timeout: 30_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-snmp-des-');
  await writeFile(join(dir, 'k'), 'a-passphrase-of-length\n');
  const options = snmpSourceKind.schema.parse({
    type: 'snmp',
    name: 'cabinet',
    targets: [
      { name: 'sw', host: '127.0.0.1', version: '3', user: { name: 'gh', authKeyFile: join(dir, 'k'), privProtocol: 'des', privKeyFile: join(dir, 'k') } },
    ],
    polls: [{ name: 'p', fields: { a: 'sysName.0' } }],
  });
  const source = await snmpSourceKind.create(options, { ...testDeps(), dataDir: dir });
  t.after(() => source.stop());
  const intake = { submit: () => undefined, commitMeta: async () => undefined, readMeta: async () => undefined, accepting: () => true };
  let des = true;
  try {
    createCipheriv('des-cbc', Buffer.alloc(8), Buffer.alloc(8));
  } catch {
    des = false;
  }
  if (des) {
    // node run with --openssl-legacy-provider: DES works, the source starts
    await source.start(intake);
    assert.equal(source.status().state, 'running');
    return;
  }
  await assert.rejects(
    source.start(intake),
    (err: Error & { code?: string; where?: string; hint?: string }) =>
      err.code === 'GH_CONFIG_INVALID' && err.where === 'sources.cabinet.targets.0.user.privProtocol' && /AES/.test(String(err.hint)),
  );
});

test('a target whose every poll the agent answers with an error (authNoPriv for a priv-only user) is failing, not waiting', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const agent = await snmpd(t);
  await writeFile(join(agent.dir, 'auth'), `${V3.auth}\n`);
  const rig = await snmpRig(t, {
    targets: [
      {
        name: 'nopriv',
        host: '127.0.0.1',
        port: agent.port,
        version: '3',
        user: { name: V3.user, level: 'authNoPriv', authProtocol: 'sha', authKeyFile: join(agent.dir, 'auth') },
      },
    ],
    polls: [{ name: 'sys', intervalMs: 200, fields: { name: 'sysName.0' } }],
  });
  const target = () => rig.details().targets[0]!;
  await waitUntil(() => ((target().readErrors as Record<string, number>).protocol ?? 0) >= 2, 'polls refused by the agent', 15_000);
  assert.match(String(target().lastError), /AuthorizationError/);
  assert.equal(target().state, 'failing', 'a target that answers every poll with an error reads nothing: failing');
  assert.equal(rig.source.status().state, 'retrying', 'a source of polls whose only target fails is not up');
});
