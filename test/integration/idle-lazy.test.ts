// The idle footprint (docs/benchmarks.md, "Idle footprint"): the real `gatehouse start` with the
// default configuration must not load what that configuration does not use (serial links, the
// `sources:` kinds, YAML, cron, the client libraries of upstream destinations), and a configuration
// that uses them must load them. A module loader hook (node:module register) in the gateway process
// records every module it imports, plus the CommonJS module cache at exit; read after a clean stop.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

/** Node arguments that make the gateway append the URL of every module it loads to `out`. */
async function traceArgs(dir: string, out: string): Promise<string[]> {
  const hooks = join(dir, 'trace-hooks.mjs');
  await writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(out)}, url + '\\n');
  return next(url, context);
}
`,
  );
  // ESM imports go through the hook; CommonJS (also require() from ESM, as core/lazy-package.ts
  // does) does not on Node 20: the CommonJS module cache is listed at exit, and node's own modules
  // (however loaded) as `builtin:<name>`, from process.moduleLoadList.
  const register = join(dir, 'trace-register.mjs');
  await writeFile(
    register,
    `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
register(${JSON.stringify(pathToFileURL(hooks).href)});
// ICU (collation, date and number formats): the first use maps its data, 3-8 MiB of RSS for good
// (String#localeCompare 3.2 MiB, an Intl.DateTimeFormat 8 MiB). Each first call from a place is
// written as 'icu:<what> <caller>'.
const icuSeen = new Set();
const icu = (what) => {
  const at = (new Error().stack ?? '').split('\\n')[3]?.trim() ?? '';
  if (icuSeen.has(what + at)) return;
  icuSeen.add(what + at);
  appendFileSync(${JSON.stringify(out)}, 'icu:' + what + ' ' + at + '\\n');
};
const wrapMethod = (proto, name, what) => {
  const fn = proto[name];
  proto[name] = function (...args) {
    icu(what);
    return fn.apply(this, args);
  };
};
wrapMethod(String.prototype, 'localeCompare', 'String#localeCompare');
wrapMethod(Number.prototype, 'toLocaleString', 'Number#toLocaleString');
for (const m of ['toLocaleString', 'toLocaleDateString', 'toLocaleTimeString']) wrapMethod(Date.prototype, m, 'Date#' + m);
for (const name of ['Collator', 'DateTimeFormat', 'NumberFormat', 'PluralRules', 'RelativeTimeFormat', 'ListFormat', 'Segmenter', 'DisplayNames']) {
  const Orig = Intl[name];
  if (!Orig) continue;
  Intl[name] = new Proxy(Orig, {
    construct(target, args, newTarget) {
      icu('Intl.' + name);
      return Reflect.construct(target, args, newTarget);
    },
    apply(target, self, args) {
      icu('Intl.' + name);
      return Reflect.apply(target, self, args);
    },
  });
}
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => 'builtin:' + m.slice(13));
  appendFileSync(${JSON.stringify(out)}, [...Object.keys(cache).map((f) => pathToFileURL(f).href), ...builtins].map((u) => u + '\\n').join(''));
});
`,
  );
  return ['--import', pathToFileURL(register).href];
}

/**
 * tsc's modules, one file per source module, so a URL names the module (bin/gatehouse.js runs
 * dist/bundle/ otherwise: scripts/bundle.mjs; its own test is below).
 */
const UNBUNDLED = { GATEHOUSE_BUNDLE: '0' };
/** dist/bundle/chunks, from this test's place in dist/test/integration. */
const BUNDLE_CHUNKS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bundle', 'chunks');

/** Start the gateway (config file or the default), stop it, and return the module URLs it loaded. */
async function modulesLoaded(t: TestContext, configYaml: string | undefined, env: Record<string, string> = UNBUNDLED): Promise<string[]> {
  const dir = await tempDir(t, 'gatehouse-idle-lazy-');
  const out = join(dir, 'modules.txt');
  const config = configYaml === undefined ? undefined : await writeConfig(dir, configYaml);
  const gw = await startGatewayProcess(config, ['--data-dir', join(dir, 'data')], 30_000, await traceArgs(dir, out), env);
  assert.equal(await gw.stop(), 0, 'the gateway stops cleanly');
  return (await readFile(out, 'utf8')).split('\n').filter(Boolean);
}

/** What the default configuration must not load: [what, URL fragment]. */
const LAZY: ReadonlyArray<[string, string]> = [
  ['YAML parser', '/node_modules/yaml/'],
  ['node-cron', '/node_modules/node-cron/'],
  ['serial links (firmware bridge)', '/firmware-bridge/link.'],
  ['serial link options', '/firmware-bridge/options.'],
  ['serialport', '/node_modules/serialport/'],
  ['source kinds registry', '/gateway/pipeline/sources/registry.'],
  ['file source', '/gateway/pipeline/sources/file/'],
  ['modbus source', '/gateway/pipeline/sources/modbus/'],
  ['opcua source', '/gateway/pipeline/sources/opcua/'],
  // its files.ts (the paths the config resolves) is the config loader's, as mqtt/files.ts
  ['http source', '/gateway/pipeline/sources/http/source.'],
  ['http source options', '/gateway/pipeline/sources/http/options.'],
  ['syslog source', '/gateway/pipeline/sources/syslog/source.'],
  ['syslog source options', '/gateway/pipeline/sources/syslog/options.'],
  // its files.ts (community and passphrase files the config resolves) is the config loader's
  ['snmp source', '/gateway/pipeline/sources/snmp/source.'],
  ['snmp source options', '/gateway/pipeline/sources/snmp/options.'],
  ['net-snmp', '/node_modules/net-snmp/'],
  ['sparkplug source', '/gateway/pipeline/sources/sparkplug/source.'],
  ['sparkplug source options', '/gateway/pipeline/sources/sparkplug/options.'],
  // The Device Shadow service is on by default, but only its door (gateway/shadow/index.ts) loads
  // at start: the service and its documents at the first $aws/things/ request (or a stored shadow).
  ['shadow service', '/gateway/shadow/service.'],
  ['shadow documents', '/gateway/shadow/document.'],
  // Destination kinds (upstream/loaders.ts): the default configuration exports to files only. The
  // static registry of every kind is the CLI's (config-docs, check-config), not the start's.
  ['destination kinds registry', '/gateway/upstream/registry.'],
  ['upstream barrel (it holds the registry)', '/gateway/upstream/index.'],
  ['http destination', '/gateway/upstream/destinations/http.'],
  ['AWS destinations (common)', '/gateway/upstream/destinations/aws-common.'],
  ['kinesis destination', '/gateway/upstream/destinations/kinesis.'],
  ['firehose destination', '/gateway/upstream/destinations/firehose.'],
  ['s3 destination', '/gateway/upstream/destinations/s3.'],
  ['nats destination', '/gateway/upstream/destinations/nats.'],
  ['nats destination options', '/gateway/upstream/destinations/nats-options.'],
  ['mqtt bridge destination', '/gateway/upstream/destinations/mqtt.'],
  ['webhook destination', '/gateway/upstream/destinations/webhook.'],
  ['webhook destination options', '/gateway/upstream/destinations/webhook-options.'],
  ['postgres destination', '/gateway/upstream/destinations/postgres.'],
  ['postgres destination options', '/gateway/upstream/destinations/postgres-options.'],
  ['prometheus destination', '/gateway/upstream/destinations/prometheus.'],
  ['prometheus destination options', '/gateway/upstream/destinations/prometheus-options.'],
  ['mqtt.js (MQTT bridge destination, upstream control channel)', '/node_modules/mqtt/'],
  ['nats', '/node_modules/nats/'],
  ['pg (postgres destination)', '/node_modules/pg/'],
  ['snappyjs (prometheus destination)', '/node_modules/snappyjs/'],
  ['AWS SDK', '/node_modules/@aws-sdk/'],
  // Lookup tables (get_dynamodb() in rules): their schema is the config's, the loaders are not.
  ['lookup tables', '/gateway/tables/index.'],
  ['lookup table loader', '/gateway/tables/load.'],
  ['lookup table CSV parser', '/gateway/tables/csv.'],
  ['modbus-serial', '/node_modules/modbus-serial/'],
  ['node-opcua', '/node_modules/node-opcua'],
  // Loaded when a rule decoding Protobuf compiles (test/unit/rules-proto-lazy.test.ts), or a prometheus destination starts.
  ['protobufjs (decode proto)', '/node_modules/protobufjs/'],
  // No TLS listener, TLS client or https endpoint: node:tls and node:https (~0.8-1.5 MiB of RSS) stay
  // out, also through prom-client's index (its Pushgateway requires https: core/prom-client.ts).
  ['node:tls', 'builtin:tls'],
  ['node:https', 'builtin:https'],
  // prom-client's default metrics entry requires its CPU metric, which loads the OpenTelemetry API
  // for exemplars the gateway never enables (gateway/metrics/default-metrics.ts).
  ['@opentelemetry/api', '/node_modules/@opentelemetry/api/'],
  // Node's fetch and WebSocket client: on Node 22 and 24 an ESM import of node:http loads it (and
  // node:tls with it) through its lazy WebSocket export (core/node-http.ts). Node 20 never does.
  ['undici (fetch, WebSocket)', 'builtin:internal/deps/undici/undici'],
  // MQTT over WebSockets: only with a listener of protocol websockets
  ['ws (WebSocket listeners)', '/node_modules/ws/'],
  ['broker WebSocket listener', '/gateway/broker/websocket.'],
  ['broker WebSocket connection', '/gateway/broker/ws-connection.'],
];

/** The first URL holding `fragment` (a `builtin:<name>` fragment: that builtin exactly). */
const loadedAny = (urls: string[], fragment: string): string | undefined =>
  urls.find((u) => (fragment.startsWith('builtin:') ? u === fragment : u.includes(fragment)));

test('the default configuration loads none of the parts it does not use', async (t) => {
  const urls = await modulesLoaded(t, undefined);
  assert.ok(loadedAny(urls, '/gateway/runtime/index.'), 'the trace sees the gateway modules');
  assert.ok(loadedAny(urls, '/node_modules/aedes/'), 'the trace sees packages');
  const loaded = LAZY.map(([what, fragment]) => [what, loadedAny(urls, fragment)] as const).filter(([, url]) => url !== undefined);
  assert.deepEqual(loaded, [], `loaded by the default configuration: ${loaded.map(([w, u]) => `${w} (${u})`).join(', ')}`);
  // Round 38: a sort with localeCompare in the board's health reads took 3.2 MiB of idle RSS.
  assert.deepEqual(
    urls.filter((u) => u.startsWith('icu:')),
    [],
    'the default start uses ICU (its data stays mapped: 3-8 MiB of idle RSS): compare with < or a plain function instead',
  );
});

test('a configuration using serial links, sources, jobs and YAML loads them', async (t) => {
  const dir = await tempDir(t, 'gatehouse-idle-lazy-files-');
  // A missing device does not fail the start (the link retries); the file source tails nothing yet.
  await writeFile(join(dir, 'assets.csv'), 'id,site\n1,north\n');
  const urls = await modulesLoaded(
    t,
    `serial:
  - name: uart0
    path: ${join(dir, 'no-such-tty')}
sources:
  - type: file
    name: logs
    paths: ['${join(dir, '*.log')}']
  - type: http
    name: devices
    port: 0
  - type: syslog
    name: cabinet
    udp: { port: 0 }
    tcp: { port: 0 }
  - type: snmp
    name: ups
    traps: { port: 0, communities: [public] }
  - type: sparkplug
    name: plant
jobs:
  - name: hb
    schedule: '*/5 * * * *'
    type: heartbeat
tables:
  assets: { file: ${join(dir, 'assets.csv')}, key: id }
broker:
  listeners:
    - { host: 127.0.0.1, port: 0 }
    - { host: 127.0.0.1, port: 0, protocol: websockets }
`,
  );
  for (const [what, fragment] of [
    ['YAML parser', '/node_modules/yaml/'],
    ['node-cron', '/node_modules/node-cron/'],
    ['serial links (firmware bridge)', '/firmware-bridge/link.'],
    ['source kinds registry', '/gateway/pipeline/sources/registry.'],
    ['file source', '/gateway/pipeline/sources/file/'],
    ['http source', '/gateway/pipeline/sources/http/source.'],
    ['syslog source', '/gateway/pipeline/sources/syslog/source.'],
    ['snmp source', '/gateway/pipeline/sources/snmp/source.'],
    ['net-snmp', '/node_modules/net-snmp/'],
    ['sparkplug source', '/gateway/pipeline/sources/sparkplug/source.'],
    ['lookup tables', '/gateway/tables/index.'],
    ['lookup table CSV parser', '/gateway/tables/csv.'],

    ['ws (WebSocket listeners)', '/node_modules/ws/'],
    ['broker WebSocket listener', '/gateway/broker/websocket.'],
  ] as const) {
    assert.ok(loadedAny(urls, fragment), `${what} is loaded when configured`);
  }
});

test('a configuration whose exporter and rule action use destination kinds loads those kinds, and no other', async (t) => {
  // Nothing listens on port 1 and no record is appended: the exporters start, nothing is sent.
  const urls = await modulesLoaded(
    t,
    `exporters:
  - name: up
    stream: archive
    destination: { type: http, url: 'http://127.0.0.1:1/ingest' }
rules:
  version: 1
  rules:
    - name: up
      sql: "SELECT * FROM 'fleet/#'"
      actions:
        - kinesis: { streamName: fleet, region: us-east-1, endpoint: 'http://127.0.0.1:1', accessKeyId: x, secretAccessKey: y }
`,
  );
  assert.ok(loadedAny(urls, '/gateway/upstream/destinations/http.'), 'the http destination of the configured exporter is loaded');
  assert.ok(loadedAny(urls, '/gateway/upstream/destinations/kinesis.'), 'the kinesis destination of the rule action is loaded');
  for (const fragment of ['/gateway/upstream/registry.', '/gateway/upstream/destinations/webhook.', '/gateway/upstream/destinations/nats.']) {
    assert.equal(loadedAny(urls, fragment), undefined, `${fragment} is not loaded`);
  }
});

/**
 * Our modules in the bundle files a start loaded: the sources their linked source maps list
 * (scripts/bundle.mjs writes one per file), as `/<repo path>` (e.g. /gateway/upstream/registry.ts).
 */
async function bundledSources(urls: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const u of urls.filter((x) => x.includes('/dist/bundle/') && x.endsWith('.js'))) {
    const map = await readFile(`${fileURLToPath(u)}.map`, 'utf8').catch(() => undefined);
    if (map === undefined) continue;
    for (const src of (JSON.parse(map) as { sources: string[] }).sources) out.add(`/${src.replace(/^(\.\.\/)+/, '')}`);
  }
  return [...out];
}

// What ships: bin/gatehouse.js runs dist/bundle/ (scripts/bundle.mjs), our modules joined by esbuild
// with a split point at every dynamic import, the packages outside it. The same parts stay out: the
// packages and builtins above by their URLs, our lazily imported modules by their chunks' names.
test('the bundled CLI loads the bundle, and none of the parts the default configuration does not use', async (t) => {
  const chunks = await readdir(BUNDLE_CHUNKS).catch(() => undefined);
  if (!chunks) {
    t.skip('no dist/bundle (built without esbuild): the CLI runs the modules tested above');
    return;
  }
  const urls = await modulesLoaded(t, undefined, {});
  assert.ok(loadedAny(urls, '/dist/bundle/main.js'), 'bin/gatehouse.js runs the bundle');
  assert.equal(loadedAny(urls, '/dist/gateway/'), undefined, "no module of tsc's output is loaded beside the bundle");
  assert.ok(loadedAny(urls, '/node_modules/aedes/'), 'packages stay outside the bundle');
  // The chunks that start at a lazily imported module (chunkNames 'chunks/[name]-[hash]').
  const lazyChunks: ReadonlyArray<[string, string]> = [
    ['source kinds registry', 'registry'],
    ['serial links (firmware bridge)', 'link'],
    ['opcua source', 'opcua'],
    ['broker WebSocket listener', 'websocket'],
  ];
  for (const [what, name] of lazyChunks) {
    assert.ok(
      chunks.some((c) => c.startsWith(`${name}-`)),
      `the bundle has a chunk for ${what}`,
    );
  }
  const lazy: Array<[string, string]> = [
    ...LAZY.filter(([, f]) => f.startsWith('builtin:') || f.startsWith('/node_modules/')),
    ...lazyChunks.map(([w, n]) => [w, `/dist/bundle/chunks/${n}-`] as [string, string]),
  ];
  const loaded = lazy.map(([what, fragment]) => [what, loadedAny(urls, fragment)] as const).filter(([, url]) => url !== undefined);
  assert.deepEqual(loaded, [], `loaded by the default configuration: ${loaded.map(([w, u]) => `${w} (${u})`).join(', ')}`);
  // A lazily imported module can sit in a shared chunk (esbuild splits code that several entries
  // use, e.g. a destination kind both its loader and the CLI's registry import): what the loaded
  // chunks hold, by their source maps, is what counts.
  const sources = await bundledSources(urls);
  assert.ok(loadedAny(sources, '/gateway/runtime/index.'), 'the source maps name our modules');
  const ours = LAZY.filter(([, f]) => !f.startsWith('builtin:') && !f.startsWith('/node_modules/'));
  const inChunks = ours.map(([what, fragment]) => [what, loadedAny(sources, fragment)] as const).filter(([, src]) => src !== undefined);
  assert.deepEqual(inChunks, [], `in the chunks the default configuration loads: ${inChunks.map(([w, u]) => `${w} (${u})`).join(', ')}`);
  assert.deepEqual(
    urls.filter((u) => u.startsWith('icu:')),
    [],
    'the bundled start uses ICU (3-8 MiB of idle RSS)',
  );
});
