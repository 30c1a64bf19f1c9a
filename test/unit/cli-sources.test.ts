// `gatehouse sources`' line for each kind, from statuses shaped like the sources' status() gives
// them: the cases the integration test (cli-sources) cannot reach cheaply: an OPC UA source, a
// Modbus device failing while its link is up, a subscription the broker refused, a file source
// with vanished and unreadable files, an earlier error of a source that is healthy again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeSource, shownSources } from '../../gateway/cli/sources.js';

const T1 = '2026-01-02T03:04:05.000Z';
const T2 = '2026-01-02T03:04:09.500Z';

test('modbus: endpoint, devices and how many fail, values/s, the latest good read, reconnects, gaps; a failing device adds its error', () => {
  const dev = (name: string, state: string, lastGoodRead: string | null, valuesPerSecond: number, lastError: string | null = null) => ({
    name,
    state,
    lastGoodRead,
    valuesPerSecond,
    lastError,
    lastErrorAt: lastError ? T2 : null,
  });
  const lines = describeSource({
    kind: 'modbus',
    name: 'plc-1',
    state: 'running',
    details: {
      endpoint: 'tcp://10.0.0.5:502',
      connected: true,
      lastError: 'cannot reach tcp://10.0.0.5:502: timeout',
      lastErrorAt: T1,
      reconnects: 2,
      gaps: 1,
      devices: [dev('press', 'ok', T2, 12.345), dev('oven', 'failing', T1, 0, 'unit 7: timeout after 500 ms')],
    },
  });
  assert.deepEqual(lines, [
    `plc-1 (modbus) running: tcp://10.0.0.5:502; 2 devices (1 failing); 12.3 values/s; last good read ${T2}; 2 reconnects; 1 gap`,
    // The link's earlier error is not repeated while it runs; the failing device's is.
    `  oven: last error at ${T2}: unit 7: timeout after 500 ms`,
  ]);
});

test('modbus: a device that answers but refuses tags (exception responses) lists each tag with its error, five at most', () => {
  // Before, such a source read `running ... no good read yet` and the refusal was in --json only.
  const refused =
    'exception 0x02 illegal data address: input 30001 looks like the register number of a device manual (30001 is input address 0): addresses are zero-based protocol addresses, so write address: 0';
  const tagErrors: Record<string, string> = { volts: refused };
  for (let i = 1; i <= 6; i++) tagErrors[`t${i}`] = 'exception 0x02 illegal data address';
  const lines = describeSource({
    kind: 'modbus',
    name: 'meter',
    state: 'running',
    details: {
      endpoint: 'tcp://10.0.0.5:502',
      connected: true,
      devices: [
        {
          name: 'm1',
          state: 'waiting',
          lastGoodRead: null,
          valuesPerSecond: 0,
          lastError: `device 'm1' (unit 1) input 30001+2: ${refused}`,
          lastErrorAt: T1,
          tagErrors,
        },
        // A failing device's tags all carry the poll's error: its one line says it.
        {
          name: 'm2',
          state: 'failing',
          lastGoodRead: null,
          valuesPerSecond: 0,
          lastError: 'no response (timed out)',
          lastErrorAt: T2,
          tagErrors: { a: 'no response (timed out)' },
        },
      ],
    },
  });
  assert.deepEqual(lines, [
    'meter (modbus) running: tcp://10.0.0.5:502; 2 devices (1 failing); 7 tags with errors; 0 values/s; no good read yet',
    `  m1 tag volts: ${refused}`,
    '  m1 tag t1: exception 0x02 illegal data address',
    '  m1 tag t2: exception 0x02 illegal data address',
    '  m1 tag t3: exception 0x02 illegal data address',
    '  m1 tag t4: exception 0x02 illegal data address',
    '  m1: 2 more tags with errors (--json lists them)',
    `  m2: last error at ${T2}: no response (timed out)`,
  ]);
});

test('opcua: endpoint, security mode when not None, tags and how many have errors, values read, values/s, last good read, gaps; its error while it is down', () => {
  const details = {
    endpoint: 'opc.tcp://line1:4840',
    securityMode: 'SignAndEncrypt',
    lastError: 'connect ECONNREFUSED',
    lastErrorAt: T1,
    lastGoodRead: null,
    valuesPerSecond: 0,
    items: 3,
    values: 0,
    gaps: 0,
    tagErrors: { speed: 'BadNodeIdUnknown' },
  };
  assert.deepEqual(describeSource({ kind: 'opcua', name: 'line-1', state: 'retrying', details }), [
    'line-1 (opcua) retrying: opc.tcp://line1:4840; SignAndEncrypt; 3 tags (1 with errors); 0 values read; 0 values/s; no good read yet',
    `  last error at ${T1}: connect ECONNREFUSED`,
  ]);
  const up = { ...details, securityMode: 'None', lastGoodRead: T2, valuesPerSecond: 250.4, values: 1234, gaps: 2, tagErrors: {}, items: 1 };
  assert.deepEqual(describeSource({ kind: 'opcua', name: 'line-1', state: 'running', details: up }), [
    `line-1 (opcua) running: opc.tcp://line1:4840; 1 tag; 1234 values read; 250 values/s; last good read ${T2}; 2 gaps`,
  ]);
});

test('mqtt: a subscription the broker refused makes a connected source show its error', () => {
  const lines = describeSource({
    kind: 'mqtt',
    name: 'office',
    state: 'connected',
    details: {
      url: 'mqtts://broker.example:8883',
      clientId: 'site1',
      subscriptions: [
        { filter: 'cmd/office/#', qos: 0 },
        { filter: 'secret/#', qos: null },
      ],
      received: 5,
      acknowledged: 4,
      refused: 0,
      dropped: 1,
      lastMessageAt: T2,
      lastError: { at: T1, message: "the broker refused the subscription to 'secret/#'" },
    },
  });
  assert.deepEqual(lines, [
    `office (mqtt) connected: mqtts://broker.example:8883; client site1; cmd/office/# (QoS 0), secret/# (refused); 5 received, 4 acknowledged, 0 refused, 1 dropped; last message ${T2}`,
    `  last error at ${T1}: the broker refused the subscription to 'secret/#'`,
  ]);
});

test('mqtt: a connected source that dropped messages says why (the last error), not only how many', () => {
  const why =
    "a message on 'old/1' was dropped: it matches none of the configured topics (a subscription an earlier configuration left in the broker's persistent session for this clientId). Fix: add a filter for it to topics if it is wanted; else end that subscription: give the source a new clientId, or clear its session on the broker";
  const status = (dropped: number, message: string) => ({
    kind: 'mqtt',
    name: 'cloud',
    state: 'connected',
    details: {
      url: 'mqtt://broker.lan:1883',
      clientId: 'site1',
      subscriptions: [{ filter: 'new/#', qos: 1 }],
      received: 2,
      acknowledged: 1,
      refused: 0,
      dropped,
      lastMessageAt: T2,
      lastError: { at: T2, message },
    },
  });
  assert.deepEqual(describeSource(status(1, why)), [
    `cloud (mqtt) connected: mqtt://broker.lan:1883; client site1; new/# (QoS 1); 2 received, 1 acknowledged, 0 refused, 1 dropped; last message ${T2}`,
    `  last error at ${T2}: ${why}`,
  ]);
  // An earlier connection error of a source connected again stays out of its line.
  assert.equal(describeSource(status(0, 'mqtt://broker.lan:1883: connect ECONNREFUSED')).length, 1);
});

test('mqtt: a source without a connection says since when (the status shows it, not only the last error)', () => {
  const lines = describeSource({
    kind: 'mqtt',
    name: 'cloud',
    state: 'retrying',
    details: {
      url: 'mqtt://broker.lan:1883',
      clientId: 'site1',
      subscriptions: [{ filter: 'cmd/#', qos: 1 }],
      received: 0,
      acknowledged: 0,
      refused: 0,
      dropped: 0,
      lastMessageAt: null,
      downSince: T1,
      lastError: { at: T2, message: 'mqtt://broker.lan:1883: connect ECONNREFUSED 127.0.0.1:1883' },
    },
  });
  assert.deepEqual(lines, [
    `cloud (mqtt) retrying: mqtt://broker.lan:1883; no connection since ${T1}; client site1; cmd/# (not subscribed); 0 received, 0 acknowledged, 0 refused, 0 dropped; no message yet`,
    `  last error at ${T2}: mqtt://broker.lan:1883: connect ECONNREFUSED 127.0.0.1:1883`,
  ]);
});

test('file: files tracked and their states, lag bytes, vanished and unreadable counts, the last error in the line', () => {
  const lines = describeSource({
    kind: 'file',
    name: 'logs',
    state: 'running',
    details: {
      files: [
        { path: '/var/log/app/a.log', state: 'open', lagBytes: 100 },
        { path: '/var/log/app/b.log', state: 'waiting', lagBytes: 20, lastError: 'EACCES: permission denied' },
        { path: '/var/log/app/c.log', state: 'idle-closed', lagBytes: 0 },
      ],
      unreadable: [{ path: '/var/log/app/d.log', error: 'EACCES' }],
      vanished: [{ path: '/var/log/app/old.log', unreadBytes: 5, at: 1 }],
    },
  });
  assert.deepEqual(lines, [
    'logs (file) running: 3 files tracked (1 open, 1 waiting); lag 120 bytes; 1 vanished; 1 unreadable; last error: /var/log/app/b.log: EACCES: permission denied',
  ]);
  // The source's own error (a scan that failed) comes first.
  assert.match(
    describeSource({ kind: 'file', name: 'logs', state: 'running', details: { files: [], lastError: 'scan failed' } })[0]!,
    /: 0 files tracked; lag 0 bytes; 0 vanished; last error: scan failed$/,
  );
});

test('file: a source whose paths match nothing (a typo, a folder not there yet) says so instead of looking healthy with 0 files', () => {
  assert.deepEqual(describeSource({ kind: 'file', name: 'web', state: 'running', details: { files: [], unreadable: [], vanished: [] } }), [
    'web (file) running: 0 files tracked: no file matches its paths yet (check them for a typo: a folder that does not exist is no error, it is watched for); lag 0 bytes; 0 vanished',
  ]);
});

test('a kind this command does not know: its scalar details as they are', () => {
  assert.deepEqual(describeSource({ kind: 'can', name: 'bus0', state: 'failed', details: { port: 'can0', frames: 3, lastError: 'down', nested: { a: 1 } } }), [
    'bus0 (can) failed: port can0; frames 3',
    '  last error: down',
  ]);
});

test('a serial link that does not open is listed with its error (the built-in serial source retrying), not "no sources configured"', () => {
  const at = Date.parse(T1);
  const serial = {
    kind: 'serial',
    name: 'serial',
    state: 'retrying' as const,
    builtIn: true as const,
    details: {
      links: [
        { name: 'uart0', path: '/dev/ttyUSB0', state: 'open' },
        { name: 'gone', path: '/dev/ttyNOPE0', state: 'retrying', lastError: 'GH_SERIAL_OPEN: cannot open /dev/ttyNOPE0', lastErrorAt: at },
      ],
    },
  };
  const broker = { kind: 'mqtt', name: 'broker', state: 'running' as const, builtIn: true as const, details: {} };
  // Built-in sources that run are not listed (they are no `sources:` entry); one that does not run is.
  assert.deepEqual(shownSources([broker, serial]), [serial]);
  assert.deepEqual(shownSources([broker, { ...serial, state: 'running' as const }]), []);
  assert.deepEqual(describeSource(serial), [
    'serial (serial) retrying: 1/2 links open',
    `  gone (/dev/ttyNOPE0) retrying: last error at ${T1}: GH_SERIAL_OPEN: cannot open /dev/ttyNOPE0`,
  ]);
});

test('http: its URL, auth, messages committed, requests answered 200 and refused, in flight and banned addresses when there are', () => {
  const lines = describeSource({
    kind: 'http',
    name: 'devices',
    state: 'running',
    details: {
      url: 'https://[::]:8443/topics/',
      host: '::',
      port: 8443,
      tls: true,
      auth: '1 token(s), 1 user(s)',
      inFlight: 2,
      messages: 120,
      bytes: 4000,
      requests: { accepted: 20, 'client-gone': 1, unauthorized: 3, 'too-large': 1 },
      bannedAddresses: 1,
    },
  });
  assert.deepEqual(lines, [
    'devices (http) running: https://[::]:8443/topics/; auth 1 token(s), 1 user(s); 120 messages committed; 20 requests answered 200, 4 refused; 2 in flight; 1 address banned',
  ]);
});

test('syslog: its addresses, messages committed, connections, parse failures, cut messages and drops by reason when there are', () => {
  const details = {
    listening: { udp: '0.0.0.0:5514', tcp: '0.0.0.0:5514', tls: '0.0.0.0:6514' },
    connections: 2,
    inFlight: 0,
    messages: 1200,
    parseFailures: 3,
    truncated: 1,
    dropped: { busy: 40, denied: 2 },
    connectionOutcomes: { accepted: 9, 'idle-timeout': 4, 'tls-failed': 3, 'tls-on-tcp': 1 },
  };
  // the closed connections a sender's setup caused are said (a sender never learns it); idle ones are not a fault
  assert.deepEqual(describeSource({ kind: 'syslog', name: 'cabinet', state: 'running', details }), [
    'cabinet (syslog) running: udp 0.0.0.0:5514, tcp 0.0.0.0:5514, tls 0.0.0.0:6514; 1200 messages committed; 2 connections; 3 neither RFC 5424 nor 3164 (kept as format unknown); 1 cut at maxMessageBytes; dropped: 40 busy, 2 denied; connections closed: 3 tls-failed, 1 tls-on-tcp',
  ]);
  assert.deepEqual(
    describeSource({ kind: 'syslog', name: 'quiet', state: 'running', details: { listening: { udp: '127.0.0.1:5514' }, messages: 0, dropped: {} } }),
    ['quiet (syslog) running: udp 127.0.0.1:5514; 0 messages committed'],
  );
  // a full disk: running, yet nothing read (the senders queue); was the same line as a healthy one
  const held = {
    listening: { tcp: '0.0.0.0:5514' },
    messages: 70921,
    connections: 1,
    paused: 'store-refusing',
    commitRetries: 6105,
    lastError: 'the store cannot take data appends: free space 1 bytes is under the reserve',
  };
  assert.deepEqual(describeSource({ kind: 'syslog', name: 'cabinet', state: 'running', details: held }), [
    'cabinet (syslog) running: tcp 0.0.0.0:5514; 70921 messages committed; 1 connection; reading paused: the store refuses commits, tried again every second (6105 retries): the store cannot take data appends: free space 1 bytes is under the reserve',
  ]);
});

test('snmp: targets and how many fail, polls committed, the latest good read, skipped polls, gaps, traps and drops; a failing target adds its error', () => {
  const details = {
    connected: false,
    targets: [
      { name: 'ups-1', state: 'ok', polls: 40, lastGoodRead: T2, gaps: 1, schedules: [{ skipped: 0 }] },
      {
        name: 'pdu-2',
        state: 'failing',
        polls: 2,
        lastGoodRead: T1,
        gaps: 0,
        schedules: [{ skipped: 3 }],
        lastError: "snmp target 'pdu-2' (10.0.0.9:161, v2c) did not answer: no answer in 2000 ms x 2",
        lastErrorAt: T2,
      },
    ],
    traps: { listening: '127.0.0.1:1162', informsAnswered: 2, outcomes: { committed: 7, busy: 4, unauthorised: 1 } },
    lastError: "target 'pdu-2': snmp target 'pdu-2' (10.0.0.9:161, v2c) did not answer: no answer in 2000 ms x 2",
    lastErrorAt: T2,
  };
  assert.deepEqual(describeSource({ kind: 'snmp', name: 'cabinet', state: 'running', details }), [
    `cabinet (snmp) running: 2 targets (1 failing); 42 polls committed; last good read ${T2}; 3 polls skipped; 1 gap; traps on udp 127.0.0.1:1162: 7 committed; 2 informs answered; dropped: 4 busy, 1 unauthorised`,
    `  pdu-2: last error at ${T2}: snmp target 'pdu-2' (10.0.0.9:161, v2c) did not answer: no answer in 2000 ms x 2`,
  ]);
  assert.deepEqual(
    describeSource({
      kind: 'snmp',
      name: 'traps',
      state: 'running',
      details: { connected: true, targets: [], traps: { listening: '127.0.0.1:1162', informsAnswered: 0, outcomes: {} } },
    }),
    ['traps (snmp) running: traps on udp 127.0.0.1:1162: 0 committed'],
  );
});
