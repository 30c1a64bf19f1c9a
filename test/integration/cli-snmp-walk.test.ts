// `gatehouse snmp walk` against the real agent (Debian snmpd): the system group by default with the
// built-in names, a table by a name of Debian's MIB files (--mibs), an agent and its credentials
// taken from a config's target (its community file, its source's mibs), and what a user gets wrong:
// a wrong community (no answer, exit 1 with the hint), a name no MIB defines, bad arguments (exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir } from '../helpers/index.js';
import { snmpSkip, snmpd } from '../helpers/snmp-rig.js';

const DEBIAN_MIBS = '/usr/share/snmp/mibs';
const skip =
  snmpSkip ?? (existsSync(join(DEBIAN_MIBS, 'UCD-SNMP-MIB.txt')) ? false : `needs Debian's net-snmp MIB files (${DEBIAN_MIBS}): apt-get install libsnmp-base`);

test('snmp walk: the system group by name, a MIB table by --mibs, JSON rows, --max', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const at = ['--host', '127.0.0.1', '--port', String(agent.port)];
  const system = await runCaptured(main, ['snmp', 'walk', ...at]);
  assert.equal(system.code, 0, system.err);
  assert.match(system.out, new RegExp(`^127\\.0\\.0\\.1:${agent.port} v2c under 1\\.3\\.6\\.1\\.2\\.1\\.1: \\d+ object\\(s\\)`));
  assert.match(system.out, /\n {2}1\.3\.6\.1\.2\.1\.1\.5\.0 +sysName\.0 {2}OctetString = "gatehouse-test"\n/);
  const load = await runCaptured(main, ['snmp', 'walk', 'laTable', ...at, '--mibs', DEBIAN_MIBS, '--json']);
  assert.equal(load.code, 0, load.err);
  const rows = JSON.parse(load.out) as Array<{ oid: string; name: string; type: string; value: unknown }>;
  assert.deepEqual(
    rows.filter((r) => r.name.startsWith('laNames.')).map((r) => r.value),
    ['Load-1', 'Load-5', 'Load-15'],
  );
  assert.deepEqual(rows.find((r) => r.name === 'laLoad.1')?.type, 'OctetString');
  const capped = await runCaptured(main, ['snmp', 'walk', 'ifTable', ...at, '--max', '2']);
  assert.equal(capped.code, 0);
  assert.match(capped.out, /: 2 object\(s\) \(stopped at --max 2\)\n {2}1\.3\.6\.1\.2\.1\.2\.2\.1\.1\.1 +ifIndex\.1 {2}Integer = 1\n/);
  // Found by a user's trial (round 39): with --json, a walk cut short by --max said nothing.
  const cappedJson = await runCaptured(main, ['snmp', 'walk', 'ifTable', ...at, '--max', '2', '--json']);
  assert.equal(cappedJson.code, 0);
  assert.equal((JSON.parse(cappedJson.out) as unknown[]).length, 2);
  assert.match(cappedJson.err, /stopped at --max 2: more objects may follow under 1\.3\.6\.1\.2\.1\.2\.2; raise --max/);
  assert.equal(load.err, '', 'a whole walk says nothing on stderr');
});

test("snmp walk --config --target: the target's address, community file and its source's mibs", { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const dir = await tempDir(t, 'gatehouse-snmp-walk-');
  await writeFile(join(dir, 'community'), 'public\n');
  const config = join(dir, 'gatehouse.yaml');
  await writeFile(
    config,
    [
      'sources:',
      '  - type: snmp',
      '    name: cabinet',
      `    mibs: [${DEBIAN_MIBS}]`,
      '    targets:',
      `      - { name: ups, host: 127.0.0.1, port: ${agent.port}, communityFile: community }`,
      '    polls:',
      '      - { name: p, fields: { mem: memTotalReal.0 } }',
      '',
    ].join('\n'),
  );
  const mem = await runCaptured(main, ['snmp', 'walk', 'UCD-SNMP-MIB::memory', '--config', config, '--target', 'ups']);
  assert.equal(mem.code, 0, mem.err);
  assert.match(mem.out, /memTotalReal\.0 {2}Integer = \d+/);
  const none = await runCaptured(main, ['snmp', 'walk', '--config', config, '--target', 'pdu']);
  assert.equal(none.code, 2);
  assert.match(none.err, /no snmp source in .* has a target 'pdu'/);
});

test('snmp walk: a wrong community is no answer (exit 1, the hint), a name nothing defines and bad arguments exit 2', { skip, timeout: 60_000 }, async (t) => {
  const agent = await snmpd(t);
  const at = ['--host', '127.0.0.1', '--port', String(agent.port)];
  const wrong = await runCaptured(main, ['snmp', 'walk', ...at, '--community', 'nope', '--timeout', '200']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /GH_SNMP_NO_ANSWER: .*did not answer: no answer in 200 ms x 2.*a wrong one also times out/);
  const name = await runCaptured(main, ['snmp', 'walk', 'upsAdvBatteryCapacity', ...at, '--mibs', DEBIAN_MIBS]);
  assert.notEqual(name.code, 0);
  assert.match(name.err, /GH_SNMP_MIB: .*no loaded MIB defines 'upsAdvBatteryCapacity'/);
  for (const [argv, re] of [
    [['snmp', 'walk'], /name the agent: --host HOST, or --config FILE --target NAME/],
    [['snmp', 'walk', ...at, '--version', '3'], /version 3 needs a user/],
    [['snmp', 'walk', ...at, '--max', '0'], /--max must be a whole number/],
    [['snmp', 'walk', 'a', 'b', ...at], /one OID to walk, got 2/],
    [['snmp', 'list'], /unknown snmp subcommand 'list'/],
    [['snmp', 'walk', '3.6.1', ...at], /not an OID: '3\.6\.1'/],
  ] as const) {
    const r = await runCaptured(main, [...argv]);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
  }
});
