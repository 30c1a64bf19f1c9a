// Where the network sources listen, as the start log line and systemd's STATUS= line say it
// (gateway/runtime/source-listeners.ts, service-status.ts), from the sources' own status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SourceStatus } from '../../gateway/pipeline/contract.js';
import { runningStatus } from '../../gateway/runtime/service-status.js';
import { sourceListenerWords, sourceListeners } from '../../gateway/runtime/source-listeners.js';

const statuses: SourceStatus[] = [
  { kind: 'mqtt', name: 'broker', state: 'running', builtIn: true },
  { kind: 'http', name: 'devices', state: 'running', details: { url: 'http://127.0.0.1:8088' } },
  { kind: 'syslog', name: 'cabinet', state: 'running', details: { listening: { udp: '0.0.0.0:5514', relp: '0.0.0.0:2514' } } },
  { kind: 'snmp', name: 'ups', state: 'running', details: { traps: { listening: '127.0.0.1:1162' } } },
  { kind: 'snmp', name: 'pdu', state: 'running', details: { traps: null } },
  { kind: 'modbus', name: 'meter', state: 'running', details: {} },
];

test('the listeners of http, syslog and snmp sources, read from their status; none of the others', () => {
  assert.deepEqual(sourceListeners(statuses), {
    http: [{ name: 'devices', url: 'http://127.0.0.1:8088' }],
    syslog: [{ name: 'cabinet', udp: '0.0.0.0:5514', relp: '0.0.0.0:2514' }],
    snmpTraps: [{ name: 'ups', udp: '127.0.0.1:1162' }],
  });
  assert.deepEqual(sourceListeners(statuses.slice(0, 1)), {});
  assert.deepEqual(sourceListenerWords(sourceListeners(statuses)), [
    'http source devices on http://127.0.0.1:8088',
    'syslog source cabinet on udp 0.0.0.0:5514, relp 0.0.0.0:2514',
    'snmp traps of ups on udp 127.0.0.1:1162',
  ]);
});

test("systemd's STATUS= line names the network sources after the broker and the admin API", () => {
  const gateway = {
    broker: { addresses: () => [{ host: '0.0.0.0', port: 1883, tls: false }] },
    admin: { address: () => ({ host: '127.0.0.1', port: 8080, tls: false }) },
    sources: { status: () => statuses },
  } as unknown as Parameters<typeof runningStatus>[0];
  assert.equal(
    runningStatus(gateway),
    'running: MQTT on mqtt://0.0.0.0:1883, admin API on http://127.0.0.1:8080, http source devices on http://127.0.0.1:8088, syslog source cabinet on udp 0.0.0.0:5514, relp 0.0.0.0:2514, snmp traps of ups on udp 127.0.0.1:1162',
  );
});
