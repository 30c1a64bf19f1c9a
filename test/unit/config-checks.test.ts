// check-config catches what `start` would trip over: files the config names (rule set, TLS), and
// a stream that rules write while nothing exports it (it would fill up, then refuse publishes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { needBinary } from '../helpers/index.js';
import { checkConfigText, configIn } from '../helpers/check-config.js';

test('a missing rulesFile is named with its key and the path rule', async (t) => {
  const { check } = await configIn(t);
  const r = await check('rulesFile: rules/missing.yaml\n');
  assert.equal(r.code, 1);
  assert.match(r.err, /GH_CONFIG_INVALID/);
  assert.match(r.err, /rules\/missing\.yaml does not exist/);
  assert.match(r.err, /at rulesFile/);
  assert.match(r.err, /resolved against the config file's folder/);
});

test('TLS files that do not exist fail check-config, not only start', async (t) => {
  const { check } = await configIn(t);
  const r = await check('broker:\n  listeners:\n    - { host: 127.0.0.1, port: 8883, tls: { cert: tls/cert.pem, key: tls/key.pem } }\n');
  assert.equal(r.code, 1);
  assert.match(r.err, /the TLS certificate .*tls\/cert\.pem does not exist/);
  assert.match(r.err, /broker\.listeners\.0\.tls\.cert/);
});

test("the admin API's TLS files are checked and resolved against the config file's folder", async (t) => {
  const { dir, check } = await configIn(t);
  const r = await check('admin:\n  tls: { cert: tls/admin.pem, key: tls/admin.key }\n');
  assert.equal(r.code, 1);
  assert.match(r.err, /the admin API TLS certificate .*tls\/admin\.pem does not exist/);
  assert.match(r.err, /admin\.tls\.cert/);
  assert.match(r.err, new RegExp(`${dir}/tls/admin\\.key`));
});

test("an MQTT source's TLS files are checked and resolved against the config file's folder", async (t) => {
  const { dir, check } = await configIn(t);
  const r = await check(
    "sources:\n  - { type: mqtt, name: cloud, url: 'mqtts://iot.example:8883', clientId: gw1, caFile: tls/ca.pem, topics: [{ filter: 'cmd/#' }] }\n",
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /the CA bundle of the MQTT source .*tls\/ca\.pem does not exist/);
  assert.match(r.err, /sources\.0\.caFile/);
  assert.match(r.err, new RegExp(`${dir}/tls/ca\\.pem`));
});

test('a stream that rules write and nothing exports is a warning; localOnly silences it', async (t) => {
  const { check } = await configIn(t);
  const rules = 'rules:\n  version: 1\n  rules:\n    - { name: keep, sql: "SELECT * FROM \'a/#\'", actions: [{ stream: { name: alerts } }] }\n';
  const warned = await check(`streams: { archive: {}, alerts: {} }\n${rules}`);
  assert.equal(warned.code, 0, warned.err);
  assert.match(warned.err, /warning: rule 'keep' writes stream 'alerts', but no exporter exports it/);
  assert.match(warned.err, /localOnly: true/);

  const quiet = await check(`streams: { archive: {}, alerts: { localOnly: true } }\n${rules}`);
  assert.equal(quiet.code, 0, quiet.err);
  assert.doesNotMatch(quiet.err, /warning/);

  // The default config: archive is written by the default rule and exported by the default exporter.
  const dflt = await check('gatewayId: gw1\n');
  assert.equal(dflt.code, 0, dflt.err);
  assert.doesNotMatch(dflt.err, /warning/);
});

test('a job that enables or disables a rule the rule set does not have is a warning, naming the rules it has', async (t) => {
  const { check } = await configIn(t);
  const rules = 'rules:\n  version: 1\n  rules:\n    - { name: archive_all, sql: "SELECT * FROM \'#\'", actions: [{ stream: { name: archive } }] }\n';
  const jobs = (rule: string): string =>
    `jobs:\n  - { name: hb, schedule: '* * * * *', type: heartbeat }\n  - { name: night-off, schedule: '0 22 * * *', type: disable-rule, rule: ${rule} }\n`;
  const warned = await check(`${rules}${jobs('verbose_debug')}`);
  assert.equal(warned.code, 0, warned.err);
  assert.match(warned.err, /warning: job 'night-off' \(disable-rule\) names rule 'verbose_debug', which the rule set does not have/);
  assert.match(warned.err, /at jobs\.1\.rule/);
  assert.match(warned.err, /archive_all/);

  const quiet = await check(`${rules}${jobs('archive_all')}`);
  assert.equal(quiet.code, 0, quiet.err);
  assert.doesNotMatch(quiet.err, /warning/);
});

test("a heartbeat on one of the gateway's control topics is a warning naming what goes wrong; its own heartbeat topic is not", async (t) => {
  const { check } = await configIn(t);
  const hb = (topic: string): string => `gatewayId: site7\njobs:\n  - { name: hb, schedule: '* * * * *', type: heartbeat, topic: ${topic} }\n`;
  const set = await check(hb('gatehouse/site7/rules/set'));
  assert.equal(set.code, 0, set.err);
  assert.match(
    set.err,
    /warning: heartbeat job 'hb' publishes on the control topic gatehouse\/site7\/rules\/set: the gateway takes each report for a rule update/,
  );
  assert.match(set.err, /at jobs\.0\.topic\)\. Fix: leave topic out \(the default is gatehouse\/site7\/heartbeat\)/);
  assert.match((await check(hb('gatehouse/site7/rules/status'))).err, /status readers get heartbeats/);
  assert.doesNotMatch((await check(hb('gatehouse/site7/heartbeat'))).err, /warning/);
});

test('job problems say what was found at the key they name (not the whole job or list)', async (t) => {
  const { check } = await configIn(t);
  const r = await check("jobs:\n  - { name: x, schedule: '0 22 * * *', type: disable-rule }\n  - { name: x, schedule: '* * * * *', type: sweep }\n");
  assert.equal(r.code, 1);
  assert.match(r.err, /jobs\.0\.rule: a disable-rule job needs rule: <rule name> \(found nothing\)/);
  assert.match(r.err, /jobs\.1\.name: duplicate job name 'x' \(found string "x"\)/);
});

test('check-config lists every problem past the schema in one run (cross-section, destinations, rules)', async (t) => {
  const { check } = await configIn(t);
  const r = await check(
    [
      'streams: { a: {} }',
      'exporters:',
      '  - { name: x, stream: nosuch, destination: { type: file } }',
      '  - { name: x, stream: a, destination: { type: file } }',
      '  - { name: k, stream: a, destination: { type: kinesis } }',
      'rules: { version: 1, rules: [{ name: r, sql: "SELECT * FROM \'#\'", actions: [{ stream: { name: missing } }] }] }',
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /has 4 problems:/);
  assert.match(r.err, /exporters\.0\.stream: GH_CONFIG_INVALID: exporter 'x' exports stream 'nosuch'/);
  assert.match(r.err, /exporters\.1\.name: GH_CONFIG_INVALID: exporter name 'x' is used twice/);
  assert.match(r.err, /exporters\.2\.destination: GH_DESTINATION_CONFIG: kinesis destination is invalid/);
  assert.match(r.err, /GH_RULESET_INVALID: .*\n.*local stream 'missing' is not defined/);
  // Each problem keeps its own fix.
  assert.match(r.err, /fix: give each exporter its own name/);
});

test('a rule set with bad SQL in one rule and an undefined stream in another names both in one run (the stream came only once the SQL was fixed)', async (t) => {
  const { check } = await configIn(t);
  const r = await check(
    [
      'streams: { up: {} }',
      'rules:',
      '  version: 1',
      '  rules:',
      '    - { name: a, sql: "SELECT * FRM \'x/+\'", actions: [{ stream: { name: up } }] }',
      '    - { name: b, sql: "SELECT * FROM \'y/+\'", actions: [{ stream: { name: nope } }] }',
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /has 2 errors:/);
  assert.match(r.err, /rule a \(line 1, column 10\): GH_SQL_SYNTAX/);
  assert.match(r.err, /rule b \(actions\[0\]\.stream\): GH_STREAM_UNKNOWN: local stream 'nope' is not defined/);
  // With the SQL fixed, the stream alone, as before.
  const fixed = await check(
    'streams: { up: {} }\nrules: { version: 1, rules: [{ name: b, sql: "SELECT * FROM \'y/+\'", actions: [{ stream: { name: nope } }] }] }\n',
  );
  assert.match(fixed.err, /has 1 error:\n.*rule b \(actions\[0\]\.stream\): GH_STREAM_UNKNOWN/);
});

test("check-config loads TLS files as start does: a certificate with another pair's key is refused", { skip: needBinary('openssl', 'openssl') }, async (t) => {
  const { dir, check } = await configIn(t);
  for (const n of ['a', 'b']) {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', join(dir, `${n}.key`), '-out', join(dir, `${n}.crt`), '-days', '1', '-subj', `/CN=${n}`],
      {
        stdio: 'ignore',
      },
    );
  }
  const r = await check('broker:\n  listeners: [{ host: 127.0.0.1, port: 8883, tls: { cert: a.crt, key: b.key } }]\n');
  assert.equal(r.code, 1);
  // worded as at start and as docs/errors.md lists it (the catalogue's template)
  assert.match(
    r.err,
    /GH_BROKER_TLS: cannot load TLS files of mqtts: the key is not the certificate's own: they are not one key pair \(.*key values mismatch\) \(at broker\.listeners\.0\.tls\)/,
  );
  // which file is wrong, not OpenSSL's "no start line": the two swapped, a key given for both, a certificate for both
  for (const [cert, key, said] of [
    ['a.key', 'a.crt', /cert and key are swapped: the cert file holds a private key and the key file a certificate/],
    ['a.key', 'a.key', /the cert file is not a PEM certificate \(no BEGIN CERTIFICATE block; it holds a private key\)/],
    ['a.crt', 'a.crt', /the key file is not a PEM private key \(no BEGIN \.\.\. PRIVATE KEY block; it holds a certificate\)/],
  ] as const) {
    const bad = await check(`broker:\n  listeners: [{ host: 127.0.0.1, port: 8883, tls: { cert: ${cert}, key: ${key} } }]\n`);
    assert.equal(bad.code, 1);
    assert.match(bad.err, new RegExp(`GH_BROKER_TLS: cannot load TLS files of mqtts: ${said.source}`), `${cert} + ${key}: ${bad.err}`);
  }
  assert.equal((await check('broker:\n  listeners: [{ host: 127.0.0.1, port: 8883, tls: { cert: a.crt, key: a.key } }]\n')).code, 0);
});

test("TLS clients' files (MQTT source, MQTT bridge, control broker) must load as start loads them: a CA that is a key, a certificate with another pair's key", {
  skip: needBinary('openssl', 'openssl'),
}, async (t) => {
  const { dir, check } = await configIn(t);
  for (const n of ['a', 'b']) {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', join(dir, `${n}.key`), '-out', join(dir, `${n}.crt`), '-days', '1', '-subj', `/CN=${n}`],
      { stdio: 'ignore' },
    );
  }
  const source = (files: string): string =>
    `sources:\n  - { type: mqtt, name: cloud, url: 'mqtts://iot.example:8883', clientId: gw1, ${files}, topics: [{ filter: 'cmd/#' }] }\n`;
  let r = await check(source('caFile: a.key'));
  assert.equal(r.code, 1);
  assert.match(r.err, /GH_CONFIG_INVALID: MQTT source 'cloud': caFile .*a\.key holds no PEM certificate \(at sources\.0\.caFile\)/);
  r = await check(source('caFile: a.crt, certFile: a.crt, keyFile: b.key'));
  assert.equal(r.code, 1);
  assert.match(r.err, /certFile .*a\.crt and keyFile .*b\.key do not load as a pair: .*key values mismatch \(at sources\.0\.certFile\)/);
  assert.match((await check(source('certFile: a.crt'))).err, /certFile and keyFile go together \(mutual TLS\) \(at sources\.0\.keyFile\)/);
  r = await check(source('caFile: a.crt, certFile: a.crt, keyFile: a.key'));
  assert.equal(r.code, 0, r.err);
  // The MQTT bridge destination and the control broker are TLS clients too: same check, their keys.
  r = await check(
    [
      'exporters:',
      "  - { name: up, stream: archive, destination: { type: mqtt, url: 'mqtts://iot.example:8883', clientId: gw1, caFile: a.key, certFile: a.crt, keyFile: a.key } }",
      'control:',
      "  upstream: { url: 'mqtts://iot.example:8883', ca: a.crt, cert: a.crt, key: b.key }",
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /exporters\.0\.destination\.caFile: GH_DESTINATION_CONFIG: MQTT destination of exporter 'up': caFile .*a\.key holds no PEM certificate/);
  assert.match(
    r.err,
    /control\.upstream\.cert: GH_CONFIG_INVALID: control broker: cert .*a\.crt and key .*b\.key do not load as a pair: .*key values mismatch/,
  );
});

test("an MQTT source's overlapping filters are a warning (a broker may deliver a message once per subscription); disjoint ones are not", async (t) => {
  const { check } = await configIn(t);
  const source = (topics: string): string => `sources:\n  - { type: mqtt, name: cloud, url: 'mqtt://broker.lan', clientId: gw1, topics: [${topics}] }\n`;
  let r = await check(source("{ filter: 'cmd/site1/#' }, { filter: 'cmd/site1/valves/+' }"));
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /warning: MQTT source 'cloud': filters 'cmd\/site1\/#' and 'cmd\/site1\/valves\/\+' can match the same topic: .* \(at sources\.0\.topics\.1\.filter\)\. Fix: subscribe to filters that do not overlap/,
  );
  // A shared subscription delivers the topics of its inner filter: it overlaps like that filter.
  r = await check(source("{ filter: '$share/gw/cmd/site1/#' }, { filter: 'cmd/site1/valves/+' }"));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /filters '\$share\/gw\/cmd\/site1\/#' and 'cmd\/site1\/valves\/\+' can match the same topic/);
  r = await check(source("{ filter: 'cmd/site1/#' }, { filter: 'cfg/site1/+' }, { filter: 'cmd/site2/+' }, { filter: '$share/gw/cfg/site2/#' }"));
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.err, /can match the same topic/);
});

test('two readers of one serial port (serial links, Modbus RTU sources) are a config error naming both (the second would wait for the port forever)', async (t) => {
  const { check } = await configIn(t);
  const r = await check(
    [
      'serial:',
      '  - { name: meter, path: /dev/ttyUSB0, framing: { type: line }, codec: { type: json } }',
      '  - { name: pump, path: /dev/ttyUSB0, framing: { type: line }, codec: { type: json } }',
      '  - { name: valve, path: /dev/ttyUSB1, framing: { type: line }, codec: { type: json } }',
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /GH_CONFIG_INVALID: serial link 'meter' and serial link 'pump' both open \/dev\/ttyUSB0 \(at serial\.1\.path\)\. Fix: give each its own port/,
  );
  assert.doesNotMatch(r.err, /valve/);
  // A Modbus RTU source on a serial link's port, too.
  const rtu = await check(
    [
      'serial:',
      '  - { name: meter, path: /dev/ttyUSB0, framing: { type: line }, codec: { type: json } }',
      'sources:',
      '  - { type: modbus, name: plc, rtu: { path: /dev/ttyUSB0 }, devices: [{ name: d1, unitId: 1, groups: [{ intervalMs: 1000, tags: [{ name: t, area: holding, address: 0 }] }] }] }',
      '',
    ].join('\n'),
  );
  assert.equal(rtu.code, 1, rtu.err);
  assert.match(rtu.err, /serial link 'meter' and Modbus source 'plc' both open \/dev\/ttyUSB0 \(at sources\.0\.rtu\.path\)/);
});

test('two s3 exporters on one bucket and prefix with a keyTemplate without ${stream} are a config error (their objects would overwrite each other)', async (t) => {
  const { check } = await configIn(t);
  const config = (template: string, prefix2 = ''): string =>
    [
      'streams: { a: {}, b: {} }',
      'rules: { version: 1, rules: [] }',
      'exporters:',
      `  - { name: ea, stream: a, destination: { type: s3, bucket: archive, keyTemplate: "${template}" } }`,
      `  - { name: eb, stream: b, destination: { type: s3, bucket: archive${prefix2}, keyTemplate: "${template}" } }`,
      '',
    ].join('\n');
  const r = await check(config('${timestamp:yyyy}/${firstSeq}-${lastSeq}.ndjson'));
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /exporters 'ea' and 'eb' write to s3 bucket 'archive' under one prefix with a keyTemplate without \$\{stream\}/);
  // Apart by prefix, or with ${stream} in the keys: fine.
  assert.equal((await check(config('${timestamp:yyyy}/${firstSeq}-${lastSeq}.ndjson', ', prefix: other/'))).code, 0);
  assert.equal((await check(config('${stream}/${firstSeq}-${lastSeq}.ndjson'))).code, 0);
});

test('two listeners that would take the same address and port are a config error naming both (start failed with EADDRINUSE blaming another process)', async (t) => {
  // Found by following the installer's starter config: adding `{ host: 0.0.0.0, port: 1883 }` next
  // to `{ host: 127.0.0.1, port: 1883 }` passed check-config, and start then failed with
  // "another process (a mosquitto service?) uses this port": it was the gateway's own listener.
  const { check } = await configIn(t);
  const r = await check(
    [
      'broker:',
      '  listeners:',
      '    - { host: 127.0.0.1, port: 1883 }',
      '    - { host: 0.0.0.0, port: 1883 }',
      '    - { host: 127.0.0.1, port: 9883 }',
      '  allowAnonymous: false',
      "  users: [{ username: u, password: 'scrypt$16384$8$1$xVvrEHvemuYo2MiIkFABpQ==$uWwSj9v7f8jTWbAQzjidP2YLhe32Sc1gmRynh2aoxHo=' }]",
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /broker\.listeners\.0 \(127\.0\.0\.1:1883\) and broker\.listeners\.1 \(0\.0\.0\.0:1883\) would take the same port/);
  assert.match(r.err, /broker\.listeners\.1\.port: GH_CONFIG_INVALID/);
  assert.match(r.err, /0\.0\.0\.0 .*loopback/);
  assert.match(r.err, /broker\.listeners\.2 \(127\.0\.0\.1:9883\) and admin \(127\.0\.0\.1:9883\)/);
  // Two addresses of their own on one port, or port 0 (any free port), are no clash.
  const ok = await check(
    [
      'broker:',
      '  listeners:',
      '    - { host: 127.0.0.1, port: 1883 }',
      '    - { host: 127.0.0.2, port: 1883 }',
      '    - { host: 127.0.0.1, port: 0 }',
      '    - { host: 127.0.0.1, port: 0 }',
      '',
    ].join('\n'),
  );
  assert.equal(ok.code, 0, ok.err);
});

test('an admin API beyond loopback without admin.tls is a warning (its bearer token would cross the network in clear)', async (t) => {
  const token = 'token: 0123456789abcdef0123456789abcdef';
  const plain = await checkConfigText(t, `admin: { host: 0.0.0.0, ${token} }\n`);
  assert.equal(plain.code, 0, plain.err);
  assert.match(
    plain.err,
    /warning: the admin API listens on 0\.0\.0\.0 over plain HTTP: its bearer token .* in clear.* \(at admin\.tls\)\. Fix: set admin\.tls/,
  );
  const loopback = await checkConfigText(t, `admin: { host: 127.0.0.1, ${token} }\n`);
  assert.doesNotMatch(loopback.err, /warning/);
  const off = await checkConfigText(t, `admin: { enabled: false, host: 0.0.0.0, ${token} }\n`);
  assert.doesNotMatch(off.err, /warning/);
});

test('two MQTT connections with one clientId on one broker (two sources, a source and the bridge) are a config error naming both', async (t) => {
  const { check } = await configIn(t);
  const src = (name: string, url: string, clientId: string, filter: string): string =>
    `  - { type: mqtt, name: ${name}, url: '${url}', clientId: ${clientId}, topics: [{ filter: '${filter}' }] }`;
  // A copied block: same broker (the default port written or not, credentials or not), same clientId.
  const r = await check(
    [
      'sources:',
      src('cloud', 'mqtt://gw:pw@Broker.lan', 'site1-down', 'cmd/site1/#'),
      src('cloud2', 'mqtt://broker.lan:1883', 'site1-down', 'cmd/site2/#'),
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /GH_CONFIG_INVALID: MQTT source 'cloud' and MQTT source 'cloud2' both connect to broker\.lan:1883 with clientId 'site1-down': .* \(at sources\.1\.clientId\)\. Fix: give each connection its own clientId/,
  );
  // A source and the MQTT bridge destination.
  const b = await check(
    [
      'streams: { up: { maxBytes: 1048576 } }',
      'exporters:',
      "  - { name: bridge, stream: up, destination: { type: mqtt, url: 'mqtts://iot.example.com', clientId: site1 } }",
      'sources:',
      src('cloud', 'mqtts://iot.example.com:8883', 'site1', 'cmd/#'),
      '',
    ].join('\n'),
  );
  assert.equal(b.code, 1, b.err);
  assert.match(b.err, /MQTT source 'cloud' and exporter 'bridge' both connect to iot\.example\.com:8883 with clientId 'site1'/);
  // Another broker, or another clientId: fine.
  const ok = await check(
    [
      'sources:',
      src('cloud', 'mqtt://broker.lan', 'site1-down', 'cmd/site1/#'),
      src('site', 'mqtt://broker.lan:1884', 'site1-down', 'x/#'),
      src('cloud2', 'mqtt://broker.lan', 'site1-down-2', 'y/#'),
      '',
    ].join('\n'),
  );
  assert.equal(ok.code, 0, ok.err);
});

test('two sparkplug sources on the embedded broker with the default clientId are a config error; their own clientIds are fine', async (t) => {
  const { check } = await configIn(t);
  const r = await check(
    ['sources:', '  - { type: sparkplug, name: north, groups: [north] }', '  - { type: sparkplug, name: south, groups: [south] }', ''].join('\n'),
  );
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /sparkplug source 'north' and sparkplug source 'south' both connect to embedded-broker:1883 with clientId 'gatehouse-spb-\$\{installationId\}'/,
  );
  const ok = await check(
    [
      'sources:',
      '  - { type: sparkplug, name: north, groups: [north] }',
      '  - { type: sparkplug, name: south, groups: [south], clientId: "spb-south-${installationId}" }',
      '',
    ].join('\n'),
  );
  assert.equal(ok.code, 0, ok.err);
});

test('an MQTT 5 source with sessionExpirySec 0 is a warning (the session ends at each disconnect: what comes meanwhile is lost)', async (t) => {
  const { check } = await configIn(t);
  const source = (extra: string): string =>
    `sources:\n  - { type: mqtt, name: cloud, url: 'mqtt://broker.lan', clientId: gw1, protocolVersion: 5${extra}, topics: [{ filter: 'cmd/#' }] }\n`;
  let r = await check(source(', sessionExpirySec: 0'));
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /warning: MQTT source 'cloud': with sessionExpirySec 0 the broker ends the session at each disconnect: .* \(at sources\.0\.sessionExpirySec\)\. Fix: leave sessionExpirySec out/,
  );
  r = await check(source(''));
  assert.doesNotMatch(r.err, /sessionExpirySec/);
});

test('a required key left out is named as missing with what it is (its description), not "Invalid input: expected string, received undefined"', async (t) => {
  const { check } = await configIn(t);
  // docs/firmware-bridge.md: "csv needs columns"; a serial link needs its path; a CSVTOJSON its field names.
  const r = await check(
    [
      'serial:',
      '  - { name: u, codec: { type: csv } }',
      'sources:',
      '  - { type: file, name: w, paths: [x.csv], dataProcessingOptions: [{ optionName: CSVTOJSON }] }',
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.err, /received undefined/);
  assert.match(r.err, /serial\.0\.path: missing: Device path, e\.g\. \/dev\/ttyUSB0 .*\(a string is required\)/);
  assert.match(r.err, /serial\.0\.codec\.columns: missing: Column names, in order \(a list is required\)/);
  assert.match(r.err, /sources\.0\.dataProcessingOptions\.0\.customFieldNames: missing: /);
});

test('a misspelt type or choice says what was written and the choice it is nearest to, not "found an object"', async (t) => {
  // Before: 'serial.0.framing.type: Invalid discriminator value. Expected ... (found an object)', the
  // object being the framing block, and no word of which choice was meant.
  const r = await checkConfigText(
    t,
    `serial:
  - { name: a, path: /dev/ttyUSB0, framing: { type: crc16 } }
  - { name: b, path: /dev/ttyUSB1, framing: { type: cobs }, codec: { type: struct, fields: [{ name: t, type: int16 }] } }
sources:
  - { type: modbuss, name: m }
exporters:
  - { name: x, stream: archive, destination: { type: kinesiss, streamName: s } }
`,
  );
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /\n {2}- serial\.0\.framing\.type: .*'line' \| 'cobs' \| 'slip' \| 'crc' \(did you mean 'crc'\?\) \(found string "crc16"\)\n/);
  assert.match(r.err, /\n {2}- serial\.1\.codec\.fields\.0\.type: .* \(did you mean 'i16'\?\) \(found string "int16"\)\n/);
  assert.match(r.err, /\n {2}- sources\.0\.type: unknown source type "modbuss".* \(did you mean 'modbus'\?\) \(found string "modbuss"\)/);
  assert.match(r.err, /\n {2}- exporters\.0\.destination\.type: .* \(did you mean 'kinesis'\?\) \(found string "kinesiss"\)\n/);
  assert.doesNotMatch(r.err, /found an object/);
});

test('a block given a bare true or false (ack: true, admin: false) is answered with the line to write, its enabled key', async (t) => {
  // Before: 'Invalid input: expected object, received boolean (found boolean true)' alone.
  const r = await checkConfigText(t, 'admin: false\nserial:\n  - { name: c, path: /dev/ttyUSB2, framing: { type: crc }, ack: true }\n');
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /\n {2}- serial\.0\.ack: .*: write ack: \{ enabled: true \} \(found boolean true\)/);
  assert.match(r.err, /\n {2}- admin: .*: write admin: \{ enabled: false \} \(found boolean false\)/);
});

test('a gatewayId that OS images give every board (raspberrypi) with a control broker is a warning naming the clash and the fix; another gatewayId, or no control broker, is not', async (t) => {
  const control = "control: { upstream: { url: 'mqtt://127.0.0.1:1883' } }\n";
  const warned = await checkConfigText(t, `gatewayId: raspberrypi\n${control}`);
  assert.equal(warned.code, 0, warned.err);
  assert.match(
    warned.err,
    /warning: gatewayId 'raspberrypi' is the host name an OS image gives every board it is flashed on: .*the control client id 'gatehouse-control-raspberrypi'.* \(at gatewayId\)\. Fix: give each gateway its own host name/,
  );
  assert.doesNotMatch((await checkConfigText(t, `gatewayId: depot-7\n${control}`)).err, /warning/);
  assert.doesNotMatch((await checkConfigText(t, 'gatewayId: raspberrypi\n')).err, /warning/);
});

test('control.upstream.clientId: without ${installationId} on an image host name, the warning says each board takes the session from the others and puts ${installationId} in the fix; with it, the sessions are apart and only the shared topics are said; an unknown placeholder is an error', async (t) => {
  const control = (clientId: string): string => `gatewayId: raspberrypi\ncontrol: { upstream: { url: 'mqtt://127.0.0.1:1883', clientId: '${clientId}' } }\n`;
  const fixed = await checkConfigText(t, control('ctl-${gatewayId}'));
  assert.equal(fixed.code, 0, fixed.err);
  assert.match(
    fixed.err,
    /warning: gatewayId 'raspberrypi' .*the control client id 'ctl-raspberrypi' whose session each takes from the others.* \(at gatewayId\)\. Fix: .*put \$\{installationId\} in control\.upstream\.clientId \(gatehouse-control-\$\{installationId\}/,
  );
  const own = await checkConfigText(t, control('gatehouse-control-${installationId}'));
  assert.equal(own.code, 0, own.err);
  assert.match(own.err, /warning: gatewayId 'raspberrypi' .*each reading the rule updates and rollbacks sent to the others.*their control sessions are apart/);
  assert.doesNotMatch(own.err, /takes from the others|put \$\{installationId\} in control/);
  const bad = await checkConfigText(t, control('ctl-${host}'));
  assert.equal(bad.code, 1, bad.err);
  assert.match(
    bad.err,
    /control\.upstream\.clientId: unknown placeholder '\$\{host\}' in clientId 'ctl-\$\{host\}': use only \$\{gatewayId\} and \$\{installationId\}/,
  );
});

test("an MQTT bridge whose clientId every board flashed from one image shares (gatewayId raspberrypi, no ${installationId}) is a warning with the fix, for an exporter as for a rule's mqtt action; gw-${installationId} is not", async (t) => {
  const bridge = (clientId: string): string =>
    `gatewayId: raspberrypi\nrules: { version: 1, rules: [{ name: up, sql: "SELECT * FROM 'fleet/#'", actions: [{ mqtt: { url: 'mqtt://127.0.0.1:1883', clientId: '${clientId}' } }] }] }\nexporters: [{ name: cloud, stream: archive, destination: { type: mqtt, url: 'mqtt://127.0.0.1:1884', clientId: '${clientId}' } }]\n`;
  const warned = await checkConfigText(t, bridge('gateway-site1'));
  assert.equal(warned.code, 0, warned.err);
  assert.match(
    warned.err,
    /warning: MQTT destination of exporter 'cloud': gatewayId 'raspberrypi' is the host name an OS image gives every board it is flashed on, and clientId 'gateway-site1' names no board: .* \(at exporters\.0\.destination\.clientId\)\. Fix: put \$\{installationId\} in clientId/,
  );
  assert.match(warned.err, /warning: MQTT action of rule 'up': .*clientId 'gateway-site1' names no board.* \(at rule up, actions\[0\]\.mqtt\.clientId\)/);
  assert.doesNotMatch((await checkConfigText(t, bridge('gw-${installationId}'))).err, /names no board/);
  assert.doesNotMatch((await checkConfigText(t, bridge('gateway-site1').replace('raspberrypi', 'depot-7'))).err, /names no board/);
});

test('an MQTT source whose clientId every board flashed from one image shares (gatewayId raspberrypi, no ${installationId}) is a warning naming the split session and the fix; src-${installationId} is not; an unknown placeholder is an error', async (t) => {
  const source = (clientId: string, gatewayId = 'raspberrypi'): string =>
    `gatewayId: ${gatewayId}\nsources: [{ type: mqtt, name: cmds, url: 'mqtt://127.0.0.1:1884', clientId: '${clientId}', topics: [{ filter: 'cmd/#' }] }]\n`;
  const warned = await checkConfigText(t, source('site1-cmds'));
  assert.equal(warned.code, 0, warned.err);
  assert.match(
    warned.err,
    /warning: MQTT source 'cmds': gatewayId 'raspberrypi' is the host name an OS image gives every board it is flashed on, and clientId 'site1-cmds' names no board: .*the broker splits the messages queued for it between them.* \(at sources\.0\.clientId\)\. Fix: put \$\{installationId\} in clientId \(e\.g\. src-\$\{installationId\}/,
  );
  assert.doesNotMatch((await checkConfigText(t, source('src-${installationId}'))).err, /names no board/);
  assert.doesNotMatch((await checkConfigText(t, source('site1-cmds', 'depot-7'))).err, /names no board/);
  const bad = await checkConfigText(t, source('src-${hostname}'));
  assert.equal(bad.code, 1, bad.err);
  assert.match(
    bad.err,
    /sources\.0\.clientId: unknown placeholder '\$\{hostname\}' in clientId 'src-\$\{hostname\}': use only \$\{gatewayId\} and \$\{installationId\}/,
  );
  assert.match((await checkConfigText(t, source('src-${installationId'))).err, /sources\.0\.clientId: .*unclosed \$\{/);
});
