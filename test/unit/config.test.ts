import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { loadConfig, parseConfigText } from '../../gateway/config/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { configDocsMarkdown } from '../../gateway/cli/config-docs.js';
import { main } from '../../gateway/cli/main.js';
import { repoRoot, tempDir } from '../helpers/index.js';
import { Writable } from 'node:stream';

function sink(): { stream: Writable; text: () => string } {
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => buf };
}

test('no config file gives the zero-config defaults', async () => {
  const c = await loadConfig(undefined);
  assert.equal(c.broker.listeners[0]?.host, '127.0.0.1');
  assert.equal(c.broker.listeners[0]?.port, 1883);
  assert.equal(c.admin.port, 9883);
  assert.ok(c.dataDir.endsWith('gatehouse-data'));
  assert.deepEqual(Object.keys(c.streams), ['archive']);
  assert.equal(c.store.durability, 'fsync');
});

test('flags override the file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, 'broker:\n  listeners: [{ host: 127.0.0.1, port: 1999 }]\nadmin: { port: 7000 }\ndataDir: data\n');
  const c = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  assert.equal(c.broker.listeners[0]?.port, 0);
  assert.equal(c.admin.port, 0);
  assert.equal(c.dataDir, join(dir, 'data'), 'a relative dataDir resolves against the config file folder');
});

test('an invalid file is refused with every problem: key path, expected, found', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'broker:\n  listeners: [{ port: "x" }]\n  maxConnections: -1\nstore: { durability: sometimes }\nbogus: 1\n');
  await assert.rejects(loadConfig(file), (err: unknown) => {
    assert.ok(isGatehouseError(err, 'GH_CONFIG_INVALID'));
    const m = err.message;
    assert.match(m, /broker\.listeners\.0\.port/);
    assert.match(m, /found string "x"/);
    assert.match(m, /broker\.maxConnections/);
    assert.match(m, /store\.durability/);
    assert.match(m, /bogus/);
    assert.ok(Array.isArray(err.details) && err.details.length >= 4);
    return true;
  });
});

test("one value where a list is needed (a file source's paths, control.publicKeys) says how to write the list", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'one.yaml');
  await writeFile(file, 'sources:\n  - { type: file, name: web, paths: /var/log/app/*.log }\ncontrol: { publicKeys: ops.pub }\n');
  await assert.rejects(loadConfig(file), (err: unknown) => {
    assert.ok(isGatehouseError(err, 'GH_CONFIG_INVALID'));
    assert.match(
      err.message,
      /sources\.0\.paths: Invalid input: expected array, received string: a list is needed even for one entry: write paths: \["\/var\/log\/app\/\*\.log"\] \(found string/,
    );
    assert.match(err.message, /control\.publicKeys: .*: write publicKeys: \["ops\.pub"\]/);
    return true;
  });
});

test('YAML syntax errors name the line', () => {
  assert.throws(
    () => parseConfigText('a: [1, 2\nb: c', 'x.yaml'),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_READ') && /x\.yaml:\d+:\d+/.test(err.where ?? ''),
  );
});

test('listening beyond loopback with anonymous access is refused', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'open.yaml');
  await writeFile(file, 'broker:\n  listeners: [{ host: 0.0.0.0, port: 1883 }]\n');
  await assert.rejects(loadConfig(file), (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INSECURE') && /loopback/.test(err.message) && !!err.hint);
  await writeFile(file, 'admin: { host: 0.0.0.0 }\n');
  await assert.rejects(loadConfig(file), (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INSECURE') && err.where === 'admin.token');
});

test('an exporter of an undefined stream is refused', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'x.yaml');
  await writeFile(file, 'exporters:\n  - { name: a, stream: nope, destination: { type: file } }\n');
  await assert.rejects(loadConfig(file), (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && err.where === 'exporters.0.stream');
});

test('check-config: exit 0 on a good file, 1 with the rule errors on a bad rule set', async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, 'good.yaml');
  await writeFile(
    good,
    'rules:\n  version: 1\n  rules:\n    - name: hot\n      sql: "SELECT temp FROM \'fleet/+/engine\' WHERE temp > 100"\n      actions: [{ stream: { name: archive } }]\n',
  );
  const out = sink();
  const err = sink();
  assert.equal(await main(['check-config', good], { stdout: out.stream, stderr: err.stream }), 0);
  assert.match(out.text(), /OK/);
  const bad = join(dir, 'bad.yaml');
  await writeFile(
    bad,
    'rules:\n  version: 1\n  rules:\n    - name: hot\n      sql: "SELECT temp FROM \'fleet/+/engine\' WHERE temp >"\n      actions: [{ stream: { name: missing } }]\n',
  );
  const err2 = sink();
  assert.equal(await main(['check-config', bad], { stdout: sink().stream, stderr: err2.stream }), 1);
  assert.match(err2.text(), /GH_RULESET_INVALID/);
  assert.match(err2.text(), /line 1, column \d+/);
});

test('check-config given a rule set file (the README fleet-rules.yaml) says it is one and names the command for it', async () => {
  const file = join(repoRoot, 'docs', 'examples', 'fleet-rules.yaml');
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  assert.match(err.text(), /GH_CONFIG_INVALID: .*fleet-rules\.yaml holds a rule set \(version, rules\), not a gateway configuration/);
  assert.match(err.text(), /gatehouse rules check .*fleet-rules\.yaml/);
  assert.match(err.text(), /rulesFile/);
});

test('check-config: an unknown destination key is refused with its full config path (issue #17)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'typo.yaml');
  await writeFile(file, 'exporters:\n  - { name: a, stream: archive, destination: { type: file, dirr: /tmp/out } }\n');
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  assert.match(err.text(), /GH_DESTINATION_CONFIG: file destination is invalid \(1 problem\):\n {2}- exporters\.0\.destination\.dirr: unknown key 'dirr'/);
});

test('check-config: a misspelt key anywhere in the configuration is refused with its path (no silent default)', async (t) => {
  const dir = await tempDir(t);
  // Each was accepted before and ran with the default: `requireCert` (for requestCert) turned mutual TLS off.
  const typos: Array<[string, string]> = [
    ['broker:\n  listeners: [{ host: 127.0.0.1, port: 8883, tls: { cert: c.pem, key: k.pem, requireCert: true } }]\n', 'broker.listeners.0.tls.requireCert'],
    ['broker:\n  listeners: [{ prot: 1884 }]\n', 'broker.listeners.0.prot'],
    ['broker: { allowAnonymus: false }\n', 'broker.allowAnonymus'],
    ['admin: { tokn: abc }\n', 'admin.tokn'],
    ['log: { levl: debug }\n', 'log.levl'],
    ['ruleState: { inputLg: false }\n', 'ruleState.inputLg'],
    ['exporters: [{ name: a, stream: archive, destination: { type: file }, batch: { maxRecord: 5 } }]\n', 'exporters.0.batch.maxRecord'],
    ['serial: [{ name: s, path: /dev/ttyUSB0, baudrat: 9600 }]\n', 'serial.0.baudrat'],
    ['sources: [{ name: f, type: file, paths: [/var/log/x.log], encodin: utf8 }]\n', 'sources.0.encodin'],
    [
      'rules:\n  version: 1\n  rules: [{ name: r, sql: "SELECT * FROM \'#\'", actions: [{ stream: { name: archive } }], errorActon: { stream: { name: archive } } }]\n',
      'errorActon',
    ],
    ['rules:\n  version: 1\n  rules: [{ name: r, sql: "SELECT * FROM \'#\'", actions: [{ republish: { topic: out, qoss: 1 } }] }]\n', 'qoss'],
  ];
  for (const [i, [text, key]] of typos.entries()) {
    const file = join(dir, `typo${i}.yaml`);
    await writeFile(file, text);
    const err = sink();
    assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1, `${key} was accepted`);
    const last = key.split('.').at(-1) as string;
    assert.ok(err.text().includes(key) || err.text().includes(`'${last}'`), `${key}: ${err.text()}`);
    assert.match(err.text(), /unknown key|[Uu]nrecognized key/, `${key}: ${err.text()}`);
  }
});

test('check-config: a misspelt key is refused naming the option it is nearest to (in a list, a map, a destination, a rule set)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'near.yaml');
  await writeFile(
    file,
    [
      'broker:',
      '  maxConections: 10',
      '  listeners: [{ port: 0, maxConnection: 5 }]',
      'streams:',
      '  archive: { maxbytes: 1000 }',
      'admn: { port: 0 }',
      'rules:',
      '  version: 1',
      '  rules: [{ name: r, sqll: "SELECT * FROM \'#\'", actions: [{ stream: { name: archive } }] }]',
      '',
    ].join('\n'),
  );
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  for (const [path, near] of [
    ['broker.maxConections', 'maxConnections'],
    ['broker.listeners.0.maxConnection', 'maxConnections'],
    ['streams.archive.maxbytes', 'maxBytes'],
    ['admn', 'admin'],
  ]) {
    const key = path.split('.').at(-1) as string;
    assert.ok(err.text().includes(`${path}: unknown key '${key}' (did you mean '${near}'?)`), `${path}: ${err.text()}`);
  }
  const rules = join(dir, 'rules.yaml');
  await writeFile(rules, 'version: 1\nrules: [{ name: r, sqll: "SELECT * FROM \'#\'", actions: [{ stream: { name: archive } }] }]\n');
  const rulesErr = sink();
  assert.notEqual(await main(['rules', 'check', rules], { stdout: sink().stream, stderr: rulesErr.stream }), 0);
  assert.match(rulesErr.text(), /unknown key 'sqll' \(did you mean 'sql'\?\)/);
  const dest = join(dir, 'dest.yaml');
  await writeFile(dest, 'exporters:\n  - { name: a, stream: archive, destination: { type: file, gzipp: true } }\n');
  const destErr = sink();
  assert.equal(await main(['check-config', dest], { stdout: sink().stream, stderr: destErr.stream }), 1);
  assert.match(destErr.text(), /exporters\.0\.destination\.gzipp: unknown key 'gzipp' \(did you mean 'gzip'\?\)/);
  // Nothing near: the key is still named, with the general advice.
  const far = join(dir, 'far.yaml');
  await writeFile(far, 'broker: { zzzzzz: 1 }\n');
  const farErr = sink();
  assert.equal(await main(['check-config', far], { stdout: sink().stream, stderr: farErr.stream }), 1);
  assert.match(farErr.text(), /broker\.zzzzzz: unknown key 'zzzzzz' \(not an option here: misspelt or misplaced\?\)/);
});

test('every object in the configuration schema refuses unknown keys (destinations validate their own)', async () => {
  const { z } = await import('../../core/zod.js');
  const { configSchema } = await import('../../gateway/config/full-schema.js');
  const loose: string[] = [];
  const walk = (n: Record<string, unknown> | undefined, path: string): void => {
    if (!n || typeof n !== 'object') return;
    const props = n.properties as Record<string, Record<string, unknown>> | undefined;
    if (props && n.additionalProperties !== false && path !== 'exporters[].destination') loose.push(path || '(root)');
    for (const [k, v] of Object.entries(props ?? {})) walk(v, path ? `${path}.${k}` : k);
    walk(n.items as Record<string, unknown> | undefined, `${path}[]`);
    for (const alt of [...((n.anyOf as []) ?? []), ...((n.oneOf as []) ?? [])]) walk(alt, path);
    if (typeof n.additionalProperties === 'object') walk(n.additionalProperties as Record<string, unknown>, `${path}.<name>`);
  };
  walk(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>, '');
  assert.deepEqual(loose, [], 'objects that would drop a misspelt key silently');
});

test('unknown command and bad flags exit 2 with usage', async () => {
  const err = sink();
  assert.equal(await main(['frobnicate'], { stdout: sink().stream, stderr: err.stream }), 2);
  assert.match(err.text(), /unknown command/);
  const err2 = sink();
  assert.equal(await main(['start', '--mqtt-port', 'abc'], { stdout: sink().stream, stderr: err2.stream }), 2);
  assert.match(err2.text(), /GH_ARG_INVALID/);
});

test('docs/configuration.md is generated from the code (regenerate with gatehouse config-docs)', async () => {
  const docs = await readFile(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  assert.equal(docs, configDocsMarkdown(), 'docs/configuration.md is stale: run `node bin/gatehouse.js config-docs > docs/configuration.md`');
});

test('paths in a config file are relative to its folder (file source globs, control keys and TLS files); secrets are never echoed', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    [
      'sources: [{ name: f, type: file, paths: [logs/*.log, /abs/x.log] }]',
      'control: { publicKeys: [keys/ops.pub], upstream: { url: "mqtts://office:8883", ca: tls/ca.pem } }',
      '',
    ].join('\n'),
  );
  const c = await loadConfig(file);
  assert.deepEqual((c.sources as Array<{ paths: string[] }>)[0]?.paths, [join(dir, 'logs/*.log'), '/abs/x.log']);
  assert.deepEqual(c.control.publicKeys, [join(dir, 'keys/ops.pub')]);
  assert.equal(c.control.upstream?.ca, join(dir, 'tls/ca.pem'));

  await writeFile(file, 'broker:\n  users: [{ username: a, password: hunter2-plain }]\n');
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  assert.match(err.text(), /broker\.users\.0\.password: must be a scrypt hash/);
  assert.doesNotMatch(err.text(), /hunter2/);
  assert.match(err.text(), /a string of 13 characters \(not shown\)/);

  // a numeric password (a PIN left unquoted in YAML) is not echoed either
  await writeFile(file, 'exporters:\n  - { name: up, stream: archive, destination: { type: mqtt, url: "mqtt://h:1883", clientId: c, password: 739155 } }\n');
  const num = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: num.stream }), 1);
  assert.match(num.text(), /exporters\.0\.destination\.password: a string is expected; unquoted, this value was read as a number: write it in quotes/);
  assert.doesNotMatch(num.text(), /739155/);
});

test('check-config: a value YAML typed otherwise than meant says so in YAML words (quote it, or drop the quotes), not "expected string, received number"', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'types.yaml');
  await writeFile(file, 'gatewayId: 12345\nbroker: { allowAnonymous: "false", maxConnections: "500", listeners: [{ port: "1883x" }] }\n');
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  const text = err.text();
  assert.match(text, /gatewayId: a string is expected; unquoted, this value was read as a number: write it in quotes, as in the file/);
  assert.match(text, /broker\.allowAnonymous: true or false is expected, without quotes: the quotes make "false" a string \(write false\)/);
  assert.match(text, /broker\.maxConnections: a number is expected, without quotes: the quotes make "500" a string \(write 500\)/);
  // a string that is no number is not taken for a quoting slip
  assert.match(text, /broker\.listeners\.0\.port: Invalid input: expected number, received string \(found string "1883x"\)/);
});

test("a destination's client files (mqtt caFile/certFile/keyFile, nats credsFile and tls.*) are relative to the config folder, and check-config names a missing one", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    [
      'streams: { up: {} }',
      'exporters:',
      '  - { name: m, stream: up, destination: { type: mqtt, url: "mqtts://hub:8883", clientId: site1, caFile: tls/ca.pem, certFile: tls/c.pem, keyFile: /abs/c.key } }',
      '  - { name: n, stream: up, destination: { type: nats, servers: ["tls://hub:4222"], subject: x, credsFile: site1.creds, tls: { caFile: tls/ca.pem } } }',
      '',
    ].join('\n'),
  );
  const c = await loadConfig(file);
  const [m, n] = (c.exporters ?? []).map((e) => e.destination as Record<string, unknown>);
  assert.equal(m?.caFile, join(dir, 'tls/ca.pem'));
  assert.equal(m?.certFile, join(dir, 'tls/c.pem'));
  assert.equal(m?.keyFile, '/abs/c.key');
  assert.equal(n?.credsFile, join(dir, 'site1.creds'));
  assert.equal((n?.tls as Record<string, unknown> | undefined)?.caFile, join(dir, 'tls/ca.pem'));

  // check-config fails where start would: every missing file, by its key
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  for (const key of [
    'exporters.0.destination.caFile',
    'exporters.0.destination.certFile',
    'exporters.0.destination.keyFile',
    'exporters.1.destination.credsFile',
    'exporters.1.destination.tls.caFile',
  ])
    assert.match(err.text(), new RegExp(key.replaceAll('.', '\\.')), key);
  assert.match(err.text(), new RegExp(`${join(dir, 'tls/ca.pem').replaceAll('.', '\\.')} does not exist`));
});

test("an OPC UA source's certificate login files are relative to the config folder", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    [
      'sources:',
      '  - type: opcua',
      '    name: line-1',
      '    endpoint: opc.tcp://10.0.0.5:4840',
      '    securityMode: SignAndEncrypt',
      '    securityPolicy: Basic256Sha256',
      '    auth: { type: certificate, certFile: pki/user.pem, keyFile: /etc/gatehouse/user.key }',
      '    pkiDir: opcua-pki',
      "    subscriptions: [{ name: fast, items: [{ nodeId: 'ns=2;s=Line1.Speed', name: speed }] }]",
      '',
    ].join('\n'),
  );
  const c = await loadConfig(file);
  const src = c.sources?.[0] as { auth?: { certFile?: string; keyFile?: string }; pkiDir?: string } | undefined;
  assert.equal(src?.auth?.certFile, join(dir, 'pki/user.pem'));
  assert.equal(src?.auth?.keyFile, '/etc/gatehouse/user.key');
  // The application certificate and trust list too (it was left relative to the working directory).
  assert.equal(src?.pkiDir, join(dir, 'opcua-pki'));
});

test('a stream name the config refuses is refused with the characters it may hold, not only as an invalid key', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, 'streams:\n  "a/b": { localOnly: true }\n  ok-1: { localOnly: true }\n');
  await assert.rejects(loadConfig(file), (err: unknown) => {
    assert.ok(isGatehouseError(err, 'GH_CONFIG_INVALID'));
    assert.match(err.message, /streams\.a\/b: .*a stream name is 1 to 64 letters, digits, _ \. - starting with a letter or digit/);
    assert.match(err.message, /found string "a\/b"/);
    return true;
  });
});

test('the configuration reference states the bounds a value must keep, as the refusal does (the minimum topic and client id lengths, the admin token length)', () => {
  const docs = configDocsMarkdown();
  assert.match(docs, /^\| `broker\.maxTopicLength` \| integer, 64 to 65535 \| `1024` \|/m);
  assert.match(docs, /^\| `broker\.maxClientIdLength` \| integer, 23 to 65535 \| `256` \|/m);
  assert.match(docs, /^\| `admin\.token` \| string, at least 16 characters \|/m);
  assert.match(docs, /^\| `dataDir` \| string, not empty \|/m);
  // zod's safe-integer range of an .int() is no bound a user meets: not shown
  assert.doesNotMatch(docs, /9007199254740991/);
});

test('check-config: a check across a block (tls.requestCert needs ca) says its message without "(found an object)"', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'c.pem'), '');
  await writeFile(join(dir, 'k.pem'), '');
  const file = join(dir, 'mtls.yaml');
  await writeFile(file, 'broker:\n  listeners: [{ port: 8883, tls: { cert: c.pem, key: k.pem, requestCert: true } }]\n');
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  assert.match(err.text(), /broker\.listeners\.0\.tls\.requestCert: needs ca: the CA that issued your client certificates/);
  assert.doesNotMatch(err.text(), /found an object/);
});

test('a boolean where a list is needed gets no list to write (listeners: true is no list of one)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, 'broker:\n  listeners: true\n');
  await assert.rejects(loadConfig(file), (err: Error) => {
    assert.match(err.message, /broker\.listeners: /);
    assert.doesNotMatch(err.message, /write listeners: \[true\]/);
    return true;
  });
});
