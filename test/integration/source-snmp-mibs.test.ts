// The snmp source with MIB files (`mibs`) against the real agent (Debian snmpd) and the real trap
// sender (snmptrap): fields and table columns named by Debian's UCD-SNMP-MIB and by a vendor MIB of
// the test's own, the trap and its varbinds named by that MIB, the names cached for the next start
// (the source created again reads the cache), and a start refused with the name no MIB defines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isGatehouseError } from '../../core/errors.js';
import { snmpSourceKind } from '../../gateway/pipeline/sources/snmp/index.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { TEST_MIB } from '../helpers/snmp-mib.js';
import { snmpRig, snmpSkip, snmpTool, snmpd } from '../helpers/snmp-rig.js';

const DEBIAN_MIBS = '/usr/share/snmp/mibs';
const skip =
  snmpSkip ?? (existsSync(join(DEBIAN_MIBS, 'UCD-SNMP-MIB.txt')) ? false : `needs Debian's net-snmp MIB files (${DEBIAN_MIBS}): apt-get install libsnmp-base`);

test('fields, table columns and traps named by MIB files: Debian UCD-SNMP-MIB and a vendor MIB, polled from snmpd; the names cached', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const agent = await snmpd(t);
  const dir = await tempDir(t, 'gatehouse-snmp-mibs-');
  await writeFile(join(dir, 'GATEHOUSE-TEST-MIB.txt'), TEST_MIB);
  const options = {
    mibs: [DEBIAN_MIBS, join(dir, 'GATEHOUSE-TEST-MIB.txt')],
    targets: [{ name: 'agent', host: '127.0.0.1', port: agent.port, version: '2c', community: 'public' }],
    polls: [
      {
        name: 'host',
        intervalMs: 300,
        fields: { memory: 'UCD-SNMP-MIB::memTotalReal.0', counter: 'ghCounter.0', name: 'sysName.0' },
        tables: [{ name: 'load', columns: { name: 'laNames', load: 'laLoad' } }],
      },
    ],
    traps: { port: 0, communities: ['public'] },
  };
  const rig = await snmpRig(t, options);
  const first = await waitUntil(async () => (await rig.committed()).find((m) => m.topic === 'snmp/agent/host'), 'a committed poll', 15_000);
  const fields = first.fields as Record<string, unknown>;
  assert.equal(typeof fields.memory, 'number');
  assert.ok((fields.memory as number) > 0, 'memTotalReal in kB');
  assert.equal(fields.counter, 42, "the pass script's value, named by the vendor MIB");
  assert.equal(fields.name, 'gatehouse-test');
  const load = (first.rows as Record<string, Record<string, Record<string, unknown>>>).load!;
  assert.deepEqual(
    Object.values(load).map((r) => r.name),
    ['Load-1', 'Load-5', 'Load-15'],
  );
  assert.match(String(load['1']?.load), /^\d+\.\d+$/);
  assert.match(rig.log(), /"msg":"snmp source loaded its MIB files"/);
  // a trap of the vendor MIB: named by it, its varbind too
  const to = `127.0.0.1:${rig.trapPort}`;
  assert.equal((await snmpTool('snmptrap', ['-v2c', '-c', 'public', to, '100', '1.3.6.1.4.1.99999.2', '1.3.6.1.4.1.99999.1.0', 'c', '7'])).code, 0);
  const trap = await waitUntil(async () => (await rig.committed()).find((m) => m.topic.startsWith('snmp/traps/')), 'the trap committed', 10_000);
  assert.equal(trap.topic, 'snmp/traps/127.0.0.1/ghAlarm');
  assert.equal(trap.trapName, 'ghAlarm');
  assert.deepEqual(trap.varbinds, [{ oid: '1.3.6.1.4.1.99999.1.0', name: 'ghCounter.0', type: 'Counter', value: 7 }]);
  // the next start reads the names from the data folder
  assert.ok(existsSync(join(rig.dir, 'snmp', 'cabinet.mibs.json')));
});

test('a start whose poll names what no MIB defines is refused with the key and the fix (GH_SNMP_MIB)', { skip, timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-snmp-mibs-');
  const parsed = snmpSourceKind.schema.parse({
    type: 'snmp',
    name: 'cabinet',
    mibs: [DEBIAN_MIBS],
    targets: [{ name: 'ups', host: '127.0.0.1' }],
    polls: [{ name: 'p', fields: { charge: 'PowerNet-MIB::upsAdvBatteryCapacity.0' } }],
  });
  await assert.rejects(
    snmpSourceKind.create(parsed, { ...testDeps(), dataDir: dir }),
    (err: unknown) =>
      isGatehouseError(err, 'GH_SNMP_MIB') &&
      err.where === 'sources.cabinet.polls.0.fields.charge' &&
      /no MIB module PowerNet-MIB among the loaded ones/.test(err.message) &&
      /MODULE::name/.test(err.hint ?? ''),
  );
});
