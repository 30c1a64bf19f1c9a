// What `gatehouse diagnose` redacts (gateway/cli/diagnose-redact.ts): a configuration document with
// a known value in every secret-bearing option, none of which may appear in what is printed; paths
// to secret files kept (and never read); and the schema's guard: every key of the configuration and
// destination schemas that looks like it could hold a secret is either redacted or listed below as
// a path or a public value, so an option added later is classified when it is added.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from '../../core/zod.js';
import { configSchema } from '../../gateway/config/full-schema.js';
import { destinationSchemas } from '../../gateway/upstream/registry.js';
import { REDACTED, isSecretKey, redactConfig, redactUrl, scrubber } from '../../gateway/cli/diagnose-redact.js';
import { configSection } from '../../gateway/cli/diagnose-sections.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { tempDir } from '../helpers/index.js';

/** A value per secret option, each unique, so a leak names its option. */
const S = (name: string): string => `SECRET-${name}-7f3a`;

/** A configuration document (as parsed from YAML) with a secret in every option that holds one. */
function secretConfigDocument(): Record<string, unknown> {
  return {
    gatewayId: 'depot-7',
    broker: {
      users: [{ username: 'truck7', password: S('broker-user-hash') }],
      listeners: [{ host: '0.0.0.0', port: 8883, tls: { cert: '/etc/gatehouse/tls/cert.pem', key: '/etc/gatehouse/tls/key.pem' } }],
    },
    admin: { token: S('admin-token') },
    network: {
      proxy: { url: `http://proxyuser:${S('proxy-url-password')}@proxy.site:3128`, username: 'proxyuser', passwordFile: '/etc/gatehouse/proxy-password' },
    },
    control: {
      upstream: {
        url: `mqtts://ctl:${S('control-url-password')}@iot.example.com:8883`,
        username: 'ctl',
        password: S('control-password'),
        key: '/etc/gatehouse/ctl.key',
      },
    },
    sources: [
      { type: 'mqtt', name: 'cloud', url: `mqtt://u:${S('mqtt-source-url-password')}@broker:1883`, username: 'u', password: S('mqtt-source-password') },
      { type: 'opcua', name: 'plc', endpoint: 'opc.tcp://plc:4840', auth: { type: 'username', username: 'op', password: S('opcua-password') } },
      {
        type: 'http',
        name: 'devices',
        auth: {
          tokens: [
            { name: 'shelly', sha256: S('http-token-sha256'), topics: ['shelly/#'] },
            { name: 'esp', tokenFile: '/etc/gatehouse/esp.token' },
          ],
          users: [{ username: 'curl', password: S('http-user-hash') }],
        },
      },
      {
        type: 'snmp',
        name: 'ups',
        targets: [{ name: 'ups1', host: 'ups1', community: S('snmp-community') }],
        polls: [{ name: 'battery', fields: { sysUpTime: '1.3.6.1.2.1.1.3.0' } }],
        traps: {
          communities: [S('snmp-trap-community')],
          users: [{ name: 'nms', level: 'authPriv', authKeyFile: '/etc/gatehouse/snmp-auth', privKeyFile: '/etc/gatehouse/snmp-priv' }],
        },
      },
    ],
    exporters: [
      {
        name: 'k',
        stream: 'archive',
        destination: {
          type: 'kinesis',
          streamName: 'fleet',
          accessKeyId: S('aws-access-key-id'),
          secretAccessKey: S('aws-secret'),
          sessionToken: S('aws-session-token'),
        },
      },
      { name: 'f', stream: 'archive', destination: { type: 'http', url: 'https://ingest.example.com/firehose', accessKey: S('firehose-access-key') } },
      {
        name: 'n',
        stream: 'archive',
        destination: {
          type: 'nats',
          servers: ['nats://n:4222'],
          user: 'gw',
          password: S('nats-password'),
          token: S('nats-token'),
          credsFile: '/etc/gatehouse/nats.creds',
        },
      },
      {
        name: 'm',
        stream: 'archive',
        destination: { type: 'mqtt', url: 'mqtts://up:8883', username: 'gw', password: S('mqtt-dest-password'), keyFile: '/etc/gatehouse/gw.key' },
      },
      {
        name: 'w',
        stream: 'archive',
        destination: {
          type: 'webhook',
          url: `https://api.example.com/in?token=${S('webhook-query-token')}&site=7`,
          headers: { Authorization: `Bearer ${S('webhook-header')}`, 'X-Api-Key': S('webhook-api-key-header') },
          auth: { type: 'bearer', token: S('webhook-auth-token') },
        },
      },
      {
        name: 'w2',
        stream: 'archive',
        destination: { type: 'webhook', url: 'https://api.example.com/in', auth: { type: 'basic', username: 'gw', password: S('webhook-basic-password') } },
      },
      {
        name: 'pg',
        stream: 'archive',
        destination: { type: 'postgres', connectionString: `postgres://gw:${S('pg-url-password')}@db/telemetry`, password: S('pg-password') },
      },
    ],
    rules: {
      version: 1,
      rules: [
        { name: 'r', sql: "SELECT * FROM '#'", actions: [{ type: 'http', url: 'https://x.example.com', headers: { 'x-key': S('rule-action-header') } }] },
      ],
    },
    tlsInline: { key: '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n' },
  };
}

test('every secret-bearing option is redacted, and paths to secret files are kept', () => {
  const doc = secretConfigDocument();
  const { value, secrets, paths } = redactConfig(doc);
  const text = JSON.stringify(value);
  const leaks = [...text.matchAll(/SECRET-([a-z0-9-]+)-7f3a/g)].map((m) => m[1]);
  assert.deepEqual(leaks, [], 'secrets left in the redacted document');
  assert.doesNotMatch(text, /BEGIN PRIVATE KEY/);
  // every secret was taken out (for the scrubber): one per S() call above
  const planted = [...JSON.stringify(doc).matchAll(/SECRET-([a-z0-9-]+)-7f3a/g)].map((m) => m[1]);
  for (const p of planted)
    assert.ok(
      secrets.some((s) => s.includes(`SECRET-${p}-7f3a`)),
      `${p} in the scrub list`,
    );
  // what helps an engineer stays: user names, file paths, hosts
  for (const kept of [
    'truck7',
    '/etc/gatehouse/proxy-password',
    '/etc/gatehouse/tls/key.pem',
    '/etc/gatehouse/nats.creds',
    '/etc/gatehouse/esp.token',
    'proxy.site:3128',
    'site=7',
    'shelly/#',
  ])
    assert.ok(text.includes(kept), `${kept} kept`);
  assert.ok(paths.includes('admin.token'));
  assert.ok(paths.includes('exporters[4].destination.headers.Authorization'));
  assert.ok(value !== doc, 'a copy: the document itself is not changed');
  assert.equal((doc.admin as { token: string }).token, S('admin-token'));
});

test("diagnose's configuration section of that document, written as a YAML file: no secret, the redacted keys named", async (t) => {
  const dir = await tempDir(t, 'gatehouse-diagnose-config-');
  const file = join(dir, 'g.yaml');
  // as a site writes it, a comment holding a secret too (comments are not printed)
  await writeFile(file, `# admin token: ${S('in-a-comment')}\n${stringifyYaml(secretConfigDocument())}`);
  const section = await configSection(file, { error: 'not validated here' });
  const text = section.lines.join('\n');
  assert.deepEqual(
    [...text.matchAll(/SECRET-[a-z0-9-]+-7f3a/g)].map((m) => m[0]),
    [],
  );
  assert.match(text, /^redacted: .*, admin\.token, .*, exporters\[6\]\.destination\.connectionString, /m);
  assert.match(text, /^INVALID: not validated here$/m);
  // and what it took out scrubs the other sections
  const scrub = scrubber(section.secrets ?? []);
  assert.equal(scrub(`exporter k: 403 for ${S('aws-secret')}`), `exporter k: 403 for ${REDACTED}`);
});

test('URLs: the password and credential query values, wherever they are in a text', () => {
  const r = redactUrl('to https://u:p%40ss@h.example/x?sig=abc&x=1 and nats://n:4222, http://plain/');
  assert.equal(r.text, 'to https://u:redacted@h.example/x?sig=redacted&x=1 and nats://n:4222, http://plain/');
  assert.deepEqual(r.secrets, ['p@ss', 'abc']);
});

test('the scrubber takes known secrets, URL passwords and bearer tokens out of any text', () => {
  const scrub = scrubber([S('a'), 'ab', S('longer-one')]);
  assert.equal(scrub(`x ${S('a')} y ${S('longer-one')} z ab`), `x ${REDACTED} y ${REDACTED} z ab`);
  assert.equal(scrub('"authorization":"Bearer eyJhbGciOi.x-y_z"'), `"authorization":"Bearer ${REDACTED}"`);
  assert.equal(scrub('proxy http://a:b1234@p:3128'), 'proxy http://a:redacted@p:3128/');
});

/** Keys that look like they could hold a secret but hold a path, a name, a flag or a public value. */
const NOT_SECRET = new Set([
  'allowUnsigned',
  'auth', // an object: its password/token inside are redacted by their own keys
  'authBackoff',
  'authKeyFile', // snmp v3: paths (their passphrases are never in the config)
  'authProtocol',
  'communityFile',
  'privKeyFile',
  'cert',
  'certFile',
  'credsFile',
  'headerFiles',
  'idempotencyHeader',
  'key', // tls key: a path to a PEM file (an inline PEM is caught by its value)
  'keyFile',
  'keyTemplate',
  'measurementKey',
  'metricKey', // prometheus: the payload key naming the metric
  'partitionKey',
  'passLineProtocol', // webhook influx: a boolean (send line protocol payloads as they are)
  'passwordFile',
  'publicKeys', // ed25519 public keys of rule signers
  'rejectUnauthorized',
  'requestCert',
  'requireSignedAdmin',
  'skipHeaderLines',
  'tokenFile',
  'tokens', // a list of { name, tokenFile, sha256, topics }: sha256 redacted by its key
  'url', // redacted by value: its password and credential query values
  'user',
  'username',
  'users',
  'headers', // every value redacted (SECRET_MAP_KEY)
  'shadows', // the Device Shadow service's options ('sha' in the name): flags and bounds
  'maxShadows',
]);

test('the schema guard: every key that may hold a secret is redacted or known not to be one', () => {
  const names = new Set<string>();
  const walk = (s: unknown): void => {
    if (!s || typeof s !== 'object') return;
    const o = s as Record<string, unknown>;
    if (o.properties && typeof o.properties === 'object') {
      for (const [k, v] of Object.entries(o.properties)) {
        names.add(k);
        walk(v);
      }
    }
    for (const key of ['items', 'additionalProperties']) walk(o[key]);
    for (const key of ['anyOf', 'oneOf', 'allOf']) for (const a of (o[key] as unknown[] | undefined) ?? []) walk(a);
  };
  walk(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }));
  for (const d of Object.values(destinationSchemas)) walk(z.toJSONSchema(d, { io: 'input', unrepresentable: 'any' }));
  assert.ok(names.size > 200, `${names.size} keys walked`);
  const looksSecret = /pass|secret|token|key|cred|auth|communit|sha|header|cookie|sign|private|psk|bearer|connectionstr/i;
  const unclassified = [...names].filter((n) => looksSecret.test(n) && !isSecretKey(n) && !NOT_SECRET.has(n)).sort();
  assert.deepEqual(unclassified, [], 'keys that may hold a secret: redact them in diagnose-redact.ts (SECRET_KEY) or list them here');
  // and the secret ones the schema has are redacted
  for (const n of ['password', 'token', 'secretAccessKey', 'sessionToken', 'accessKeyId', 'accessKey', 'sha256']) {
    assert.ok(names.has(n), `the schema has ${n}`);
    assert.equal(isSecretKey(n), true, n);
  }
});
