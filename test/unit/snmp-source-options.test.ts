// The snmp source's options (what a wrong file is told), its value conversion (values.ts) and its
// built-in OID names, checked against the SNMPv2-MIB and IF-MIB modules net-snmp ships.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { snmpSourceSchema } from '../../gateway/pipeline/sources/snmp/options.js';
import { OID_NAMES, oidName, resolveOid } from '../../gateway/pipeline/sources/snmp/oids.js';
import { jsonValue } from '../../gateway/pipeline/sources/snmp/values.js';

function problems(input: Record<string, unknown>): string[] {
  const r = snmpSourceSchema.safeParse({ type: 'snmp', name: 'cabinet', ...input });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const target = { name: 'ups', host: '10.0.0.5' };

test('a valid source: defaults (port 161, v2c, 2 s x 2, topic snmp/${target}/${poll}), names resolved to numeric OIDs', () => {
  const o = snmpSourceSchema.parse({
    type: 'snmp',
    name: 'cabinet',
    targets: [target],
    polls: [
      {
        name: 'battery',
        fields: { charge: 'upsEstimatedChargeRemaining.0', up: '.1.3.6.1.2.1.1.3.0' },
        tables: [{ name: 'if', columns: { in: 'ifHCInOctets' } }],
      },
    ],
  });
  assert.equal(o.targets[0]?.port, 161);
  assert.equal(o.targets[0]?.version, '2c');
  assert.equal(o.targets[0]?.timeoutMs, 2000);
  assert.equal(o.topic, 'snmp/${target}/${poll}');
  assert.deepEqual(o.polls[0]?.fields, { charge: '1.3.6.1.2.1.33.1.2.4.0', up: '1.3.6.1.2.1.1.3.0' });
  assert.deepEqual(o.polls[0]?.tables[0]?.columns, { in: '1.3.6.1.2.1.31.1.1.1.6' });
  assert.equal(o.polls[0]?.intervalMs, 60_000);
  assert.equal(o.polls[0]?.tables[0]?.maxRows, 1000);
  assert.equal(
    snmpSourceSchema.parse({ type: 'snmp', name: 'c', targets: [{ ...target, version: 1 }], polls: [{ name: 'p', fields: { a: '1.3.6.1.2.1.1.1.0' } }] })
      .targets[0]?.version,
    '1',
  );
});

test('invalid configurations are refused with what to write, at their key paths', () => {
  assert.deepEqual(problems({}), ['polls: an snmp source needs polls (with targets), traps or both']);
  assert.deepEqual(problems({ polls: [{ name: 'p', fields: { a: 'sysUpTime.0' } }] }), ['targets: polls need at least one target']);
  assert.match(
    problems({ targets: [target], polls: [{ name: 'p', fields: { a: 'sysUptime.0' } }] })[0]!,
    /^polls\.0\.fields\.a: not an OID: 'sysUptime\.0': a numeric OID/,
  );
  assert.match(problems({ targets: [target], polls: [{ name: 'p', fields: { a: '3.6.1' } }] })[0]!, /not an OID/);
  assert.deepEqual(problems({ targets: [target], polls: [{ name: 'p' }] }), ['polls.0.fields: a poll needs fields, tables or both']);
  assert.deepEqual(problems({ targets: [target, target], polls: [{ name: 'p', targets: ['pdu'], fields: { a: 'sysName.0' } }] }), [
    "targets.1.name: target 'ups' is named twice",
    "polls.0.targets.0: no target named 'pdu': ups",
  ]);
  assert.deepEqual(problems({ targets: [{ ...target, version: '3' }], polls: [{ name: 'p', fields: { a: 'sysName.0' } }] }), [
    'targets.0.user: version 3 needs a user',
  ]);
  assert.deepEqual(
    problems({
      targets: [{ ...target, version: '3', user: { name: 'gh', level: 'authPriv', authKeyFile: 'a' } }],
      polls: [{ name: 'p', fields: { a: 'sysName.0' } }],
    }),
    ['targets.0.user.privKeyFile: level authPriv needs privKeyFile'],
  );
  assert.deepEqual(problems({ targets: [{ ...target, community: 'x', communityFile: 'f' }], polls: [{ name: 'p', fields: { a: 'sysName.0' } }] }), [
    'targets.0.communityFile: give community or communityFile, not both',
  ]);
  assert.deepEqual(problems({ traps: {} }), ['traps.communities: traps need communities, a communityFile or users: which senders to take']);
  assert.match(problems({ traps: { communities: ['public'], topic: 'snmp/${oid}' } })[0]!, /^traps\.topic: unknown placeholder \$\{oid\}/);
  assert.match(problems({ traps: { communities: ['public'], allow: ['10.0.0.0/33'] } })[0]!, /^traps\.allow\.0: an address or a CIDR range/);
  assert.match(problems({ traps: { communities: ['public'], bogus: 1 } })[0]!, /unknown key 'bogus'|Unrecognized key/);
});

const vb = (type: number, value: unknown) => ({ oid: '1.3', type, value });

test('values: numbers, Counter64 past 2^53 as a string, printable text or hex, addresses and OIDs as strings, the missing ones null', () => {
  assert.equal(jsonValue(vb(2, -5)), -5);
  assert.equal(jsonValue(vb(65, 4_000_000_000)), 4_000_000_000);
  assert.equal(jsonValue(vb(67, 123)), 123);
  assert.equal(jsonValue(vb(70, Buffer.from('00ffffffffffffff', 'hex'))), '72057594037927935');
  assert.equal(jsonValue(vb(70, Buffer.from('1fffffffffffff', 'hex'))), Number.MAX_SAFE_INTEGER);
  assert.equal(jsonValue(vb(70, Buffer.from('0100', 'hex'))), 256);
  assert.equal(jsonValue(vb(4, Buffer.from('Smart-UPS 1500\0\0'))), 'Smart-UPS 1500', 'NUL padding taken off');
  assert.equal(jsonValue(vb(4, Buffer.from('zählerstand ✓'))), 'zählerstand ✓');
  assert.equal(jsonValue(vb(4, Buffer.from('001a2b3c4d5e', 'hex'))), '001a2b3c4d5e', 'a MAC address as hex');
  assert.equal(jsonValue(vb(4, Buffer.from([0xff, 0xfe, 0x41]))), 'fffe41', 'not UTF-8: hex');
  assert.equal(jsonValue(vb(4, Buffer.alloc(0))), '');
  assert.equal(jsonValue(vb(64, '10.0.0.5')), '10.0.0.5');
  assert.equal(jsonValue(vb(6, '1.3.6.1.4.1.318')), '1.3.6.1.4.1.318');
  for (const t of [5, 128, 129, 130]) assert.equal(jsonValue(vb(t, null)), null);
});

test("the built-in names of SNMPv2-MIB and IF-MIB are net-snmp's own; names round-trip", () => {
  const require = createRequire(import.meta.url);
  const snmp = require('net-snmp') as {
    createModuleStore(): { loadFromFile(file: string): void; getModule(name: string): Record<string, { OID?: string }> | undefined };
  };
  const store = snmp.createModuleStore(); // SNMPv2-MIB is a base module
  const mibs = join(dirname(require.resolve('net-snmp')), 'lib', 'mibs');
  for (const m of ['IANAifType-MIB', 'IF-MIB']) store.loadFromFile(join(mibs, `${m}.mib`));
  const modules = ['SNMPv2-MIB', 'IF-MIB'].map((m) => store.getModule(m)!);
  let checked = 0;
  for (const [name, oid] of OID_NAMES) {
    const def = modules.map((m) => m[name]).find((d) => d?.OID !== undefined);
    if (!def) continue; // UPS-MIB, HOST-RESOURCES-MIB: not shipped by net-snmp
    assert.equal(oid, def.OID, name);
    checked++;
  }
  assert.ok(checked >= 50, `${checked} names checked`);
  assert.equal(resolveOid('ifDescr.3'), '1.3.6.1.2.1.2.2.1.2.3');
  assert.equal(resolveOid('nope.0'), undefined);
  assert.equal(oidName('1.3.6.1.6.3.1.1.5.3'), 'linkDown');
  assert.equal(oidName('1.3.6.1.2.1.2.2.1.2.3'), 'ifDescr.3');
  assert.equal(oidName('1.3.6.1.4.1.318.0.5'), '1.3.6.1.4.1.318.0.5');
});

test('check-config reads the secret files as the start will: a short v3 passphrase is refused naming its key', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { snmpSourceKind } = await import('../../gateway/pipeline/sources/snmp/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-snmp-preflight-'));
  try {
    await writeFile(join(dir, 'auth'), 'short\n');
    await writeFile(join(dir, 'priv'), 'long-enough\n');
    const o = snmpSourceSchema.parse({
      type: 'snmp',
      name: 'cabinet',
      targets: [{ name: 'sw', host: '10.0.0.2', version: '3', user: { name: 'gh', authKeyFile: join(dir, 'auth'), privKeyFile: join(dir, 'priv') } }],
      polls: [{ name: 'p', fields: { a: 'sysName.0' } }],
    });
    assert.throws(
      () => snmpSourceKind.preflight?.(o),
      (err: Error & { code?: string; where?: string }) =>
        err.code === 'GH_CONFIG_INVALID' && err.where === 'sources.cabinet.targets.0.user.authKeyFile' && /shorter than 8/.test(err.message),
    );
    await writeFile(join(dir, 'auth'), 'long-enough\n');
    snmpSourceKind.preflight?.(o);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
