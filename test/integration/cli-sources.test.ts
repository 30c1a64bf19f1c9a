// `gatehouse sources` against a real in-process gateway: a file source tailing a real file, an MQTT
// source subscribed to the gateway's own embedded broker (a real mqtt.js client publishes to it), an
// MQTT source and a Modbus source whose peers are down. One line a configured source (not the
// built-in broker, serial, control and republish sources), its error under it while it is not
// healthy; --json is the API body; a gateway without `sources:` says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, writeFile } from 'node:fs/promises';
import { runCaptured, type CliRun } from '../helpers/cli-capture.js';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { main } from '../../gateway/cli/main.js';
import { freePort, tempDir, testDeps, waitUntil } from '../helpers/index.js';

interface Status {
  kind: string;
  name: string;
  state: string;
  details?: Record<string, unknown>;
}

async function startInProcess(t: import('node:test').TestContext, dir: string, yaml: string, mqttPort = 0): Promise<Gateway> {
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n${yaml}`);
  const config = await loadConfig(file, { mqttPort, adminPort: 0 });
  const deps = testDeps();
  const gw = await startGateway(config, { logger: deps.logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

function base(gw: Gateway): string {
  return `http://127.0.0.1:${gw.admin!.address().port}`;
}

async function sourcesOf(gw: Gateway): Promise<Status[]> {
  return ((await (await fetch(`${base(gw)}/api/sources`)).json()) as { sources: Status[] }).sources;
}

function cli(argv: string[]): Promise<CliRun> {
  return runCaptured(main, argv);
}

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

test('gatehouse sources: one line per configured source (file, mqtt, modbus) with its summary, the error of an unhealthy one; --json is the API body', async (t) => {
  const dir = await tempDir(t);
  // Tailed from its end (the default): the lines are appended once the gateway runs.
  await writeFile(join(dir, 'a.log'), '');
  const mqttPort = await freePort(t); // the gateway's own broker, which the "local" source subscribes to
  const closedPort = await freePort(t); // nothing listens here: the "cloud" broker and the PLC are down
  const gw = await startInProcess(
    t,
    dir,
    [
      'sources:',
      '  - type: file',
      '    name: logs',
      `    paths: [${JSON.stringify(join(dir, '*.log'))}]`,
      '  - type: mqtt',
      '    name: local',
      `    url: "mqtt://127.0.0.1:${mqttPort}"`,
      '    clientId: cli-sources-self',
      "    topics: [{ filter: 'cmd/#', qos: 1 }]",
      '  - type: mqtt',
      '    name: cloud',
      `    url: "mqtt://127.0.0.1:${closedPort}"`,
      '    clientId: cli-sources-down',
      '    reconnectMinMs: 100',
      '    reconnectMaxMs: 400',
      "    topics: [{ filter: 'cmd/site1/#' }]",
      '  - type: modbus',
      '    name: plc-1',
      `    tcp: { host: 127.0.0.1, port: ${closedPort} }`,
      '    backoff: { initialMs: 100, maxMs: 400 }',
      '    devices:',
      '      - name: press',
      '        groups: [{ name: fast, tags: [{ name: speed, area: holding, address: 0 }] }]',
      '',
    ].join('\n'),
    mqttPort,
  );
  assert.equal(gw.broker.addresses()[0]!.port, mqttPort);
  await waitUntil(
    async () => ((await sourcesOf(gw)).find((s) => s.name === 'logs')?.details?.files as unknown[] | undefined)?.length === 1,
    'a.log is tracked',
  );
  await appendFile(join(dir, 'a.log'), 'one\ntwo\nthree\n');
  const byName = async (): Promise<Map<string, Status>> => new Map((await sourcesOf(gw)).map((s) => [s.name, s]));
  // The local subscription granted, the file read to its end, both down peers with their error.
  await waitUntil(
    async () => {
      const s = await byName();
      const local = s.get('local')?.details as { subscriptions?: Array<{ qos: number | null }> } | undefined;
      const file = (s.get('logs')?.details?.files as Array<{ linesRead: number; lagBytes: number }> | undefined)?.[0];
      return (
        s.get('local')?.state === 'connected' &&
        local?.subscriptions?.[0]?.qos === 1 &&
        file?.linesRead === 3 &&
        file.lagBytes === 0 &&
        s.get('cloud')?.details?.lastError &&
        s.get('plc-1')?.details?.lastError
      );
    },
    'the sources are up (or failing with an error)',
    15_000,
  );
  // A command published on the embedded broker reaches the local source and is acknowledged.
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `cli-sources-pub-${process.pid}`, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  await client.publishAsync('cmd/valve1/set', '{"open":true}', { qos: 1 });
  await waitUntil(async () => (await byName()).get('local')?.details?.acknowledged === 1, 'the local source acknowledged the command', 10_000);

  const { code, out, err } = await cli(['sources', '--admin', base(gw)]);
  assert.equal(code, 0, err);
  assert.equal(err, '');
  const lines = out.trimEnd().split('\n');
  // The configured sources in their order, not the built-in ones (the embedded broker is kind mqtt
  // too); an error line under each of the two that are down.
  assert.equal(lines.length, 6, out);
  assert.equal(lines[0], 'logs (file) running: 1 file tracked (1 open); lag 0 bytes; 0 vanished', out);
  assert.match(
    lines[1]!,
    new RegExp(
      `^local \\(mqtt\\) connected: mqtt://127\\.0\\.0\\.1:${mqttPort}; client cli-sources-self; cmd/# \\(QoS 1\\); 1 received, 1 acknowledged, 0 refused, 0 dropped; last message ${ISO}$`,
    ),
  );
  // Down: connecting or retrying, since when, not subscribed, and its error (with its time) on the next line.
  assert.match(
    lines[2]!,
    new RegExp(
      `^cloud \\(mqtt\\) (connecting|retrying): mqtt://127\\.0\\.0\\.1:${closedPort}; no connection since ${ISO}; client cli-sources-down; cmd/site1/# \\(not subscribed\\); 0 received, 0 acknowledged, 0 refused, 0 dropped; no message yet$`,
    ),
  );
  assert.match(lines[3]!, new RegExp(`^  last error at ${ISO}: .*(ECONNREFUSED|127\\.0\\.0\\.1:${closedPort})`));
  assert.match(lines[4]!, new RegExp(`^plc-1 \\(modbus\\) retrying: tcp://127\\.0\\.0\\.1:${closedPort}; 1 device; 0 values/s; no good read yet`));
  assert.match(lines[5]!, new RegExp(`^  last error at ${ISO}: GH_SOURCE_CONNECT: cannot reach tcp://127\\.0\\.0\\.1:${closedPort}`));

  // --json: the API body as it is (the built-in sources included), for scripts.
  const json = await cli(['sources', '--admin', base(gw), '--json']);
  assert.equal(json.code, 0, json.err);
  const body = JSON.parse(json.out) as { sources: Status[] };
  assert.deepEqual(Object.keys(body), ['sources']);
  assert.deepEqual(
    body.sources.map((s) => `${s.kind}/${s.name}`),
    (await sourcesOf(gw)).map((s) => `${s.kind}/${s.name}`),
  );
  assert.deepEqual(
    body.sources.map((s) => `${s.kind}/${s.name}`),
    ['mqtt/broker', 'serial/serial', 'file/logs', 'mqtt/local', 'mqtt/cloud', 'modbus/plc-1', 'control/control', 'republish/republish', 'shadows/shadows'],
  );
  const local = body.sources.find((s) => s.name === 'local')!;
  assert.equal(local.details?.clientId, 'cli-sources-self');
  assert.equal(local.details?.acknowledged, 1);
});

test('gatehouse sources without `sources:` in the config: says so and where to configure them, exit 0', async (t) => {
  const dir = await tempDir(t);
  const gw = await startInProcess(t, dir, '');
  const { code, out, err } = await cli(['sources', '--admin', base(gw)]);
  assert.equal(code, 0, err);
  assert.equal(
    out,
    'no sources configured (sources: in the config: docs/file-sources.md, docs/industrial.md, docs/mqtt-source.md, docs/http-source.md, docs/syslog-source.md, docs/snmp-source.md, docs/sparkplug.md)\n',
  );
  // --json still gives the body: the built-in sources only.
  const json = await cli(['sources', '--admin', base(gw), '--json']);
  assert.equal(json.code, 0, json.err);
  assert.deepEqual(
    (JSON.parse(json.out) as { sources: Status[] }).sources.map((s) => s.name),
    ['broker', 'serial', 'control', 'republish', 'shadows'],
  );
});
