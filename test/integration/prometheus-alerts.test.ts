// The Prometheus alerting rules shipped in docs/examples/prometheus-alerts.yaml (docs/monitoring.md),
// tested with the real Prometheus (Debian's `prometheus` package: prometheus and promtool):
// - promtool checks the file, and runs unit tests built here: each alert fires when it should (its
//   labels and summary as rendered) and not before; every alert of the file has a case;
// - a real Prometheus scrapes a real gateway and evaluates every rule on its metrics: no rule in
//   error, an alert fires end to end (a job failing every second), no gateway label collides with
//   Prometheus' target labels (it would show as exported_job), every metric the rules read is one a
//   gateway exports, and promtool's lint of /metrics finds only prom-client's own names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { freePort, needBinary, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { startPrometheus } from '../helpers/peers.js';
import { ADMIN_TLS, httpSourceTls, syslogSourceTls } from '../../gateway/broker/tls-reload.js';
import { HOST_METRICS } from '../../gateway/runtime/host/health.js';

const run = promisify(execFile);
const skip = needBinary('promtool', 'prometheus') ?? needBinary('prometheus', 'prometheus');
const RULES_FILE = join(repoRoot, 'docs', 'examples', 'prometheus-alerts.yaml');
const INSTANCE = 'pi1:9883';

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; annotations: Record<string, string> }> }>;
}

/** One promtool case: series (as promtool writes them: `name{labels}` and `values`), a time nothing fires, a time the alert fires. */
interface AlertCase {
  alert: string;
  series: Array<[series: string, values: string]>;
  quietAt: string;
  firesAt: string;
  /** The alert's labels beyond alertname, severity, instance and job. */
  labels?: Record<string, string>;
  severity?: string;
  summary: string;
}

const on = (name: string, labels = ''): string => `${name}{instance="${INSTANCE}",job="gatehouse"${labels ? `,${labels}` : ''}}`;

const CASES: AlertCase[] = [
  {
    alert: 'GatehouseDown',
    series: [[on('up'), '1 1 0x10']],
    quietAt: '5m',
    firesAt: '8m',
    severity: 'critical',
    summary: `${INSTANCE}: the gateway has not answered a scrape for 5 minutes`,
  },
  {
    alert: 'GatehouseRestarting',
    series: [[on('gatehouse_process_start_time_seconds'), '100 100 200 300 400 400 400']],
    quietAt: '2m',
    firesAt: '5m',
    summary: `${INSTANCE}: the gateway started 3 times in the last hour`,
  },
  {
    alert: 'GatehouseStoreNotWritable',
    series: [[on('gatehouse_store_writable'), '1 0x5']],
    quietAt: '1m',
    firesAt: '2m',
    severity: 'critical',
    summary: `${INSTANCE}: the store refuses data (disk full or failing)`,
  },
  {
    alert: 'GatehouseDiskFillingUp',
    // 2 GiB free, 20 MiB less a minute (empty in ~100 minutes); a second gateway steady at 1 GiB
    series: [
      [on('gatehouse_store_free_bytes'), '2147483648-20971520x120'],
      ['gatehouse_store_free_bytes{instance="pi2:9883",job="gatehouse"}', '1073741824x120'],
    ],
    quietAt: '30m',
    firesAt: '75m',
    summary: `${INSTANCE}: the data disk reaches the store's reserve within a day at this rate`,
  },
  {
    alert: 'GatehouseDiskStalled',
    series: [[on('gatehouse_store_commit_stalls_total'), '0 0 1 1 1']],
    quietAt: '1m',
    firesAt: '3m',
    summary: `${INSTANCE}: a write to the data disk stalled for seconds`,
  },
  {
    alert: 'GatehouseStoreDamaged',
    series: [[on('gatehouse_store_corrupt_segments_total'), '0 0 2 2 2']],
    quietAt: '1m',
    firesAt: '3m',
    summary: `${INSTANCE}: the store found damaged data on its disk`,
  },
  {
    alert: 'GatehouseAppendsRefused',
    series: [[on('gatehouse_stream_rejected_total', 'stream="archive"'), '0 0 5 5 5']],
    quietAt: '1m',
    firesAt: '3m',
    labels: { stream: 'archive' },
    summary: `${INSTANCE}: the gateway is refusing data for stream archive`,
  },
  {
    alert: 'GatehouseAppendsRefused',
    series: [[on('gatehouse_store_refused_appends_total'), '0 0 5 5 5']],
    quietAt: '1m',
    firesAt: '3m',
    summary: `${INSTANCE}: the gateway is refusing data`,
  },
  {
    alert: 'GatehouseRecordsDropped',
    series: [[on('gatehouse_stream_dropped_total', 'stream="archive",reason="full"'), '0 0 10 10']],
    quietAt: '1m',
    firesAt: '3m',
    labels: { stream: 'archive', reason: 'full' },
    summary: `${INSTANCE}: stream archive dropped records before export (full)`,
  },
  {
    alert: 'GatehouseExportFailing',
    // failing since the 60th second: 15 minutes later is 16m
    series: [[on('gatehouse_export_failing_since_timestamp_seconds', 'exporter="kinesis-up"'), '0 60x30']],
    quietAt: '10m',
    firesAt: '20m',
    labels: { exporter: 'kinesis-up' },
    summary: `${INSTANCE}: exporter kinesis-up has delivered nothing for 15 minutes`,
  },
  {
    alert: 'GatehouseExportBehind',
    series: [[on('gatehouse_export_backlog_age_seconds', 'exporter="kinesis-up"'), '0 4000x30']],
    quietAt: '10m',
    firesAt: '20m',
    labels: { exporter: 'kinesis-up' },
    summary: `${INSTANCE}: exporter kinesis-up's oldest record waits for more than an hour`,
  },
  {
    alert: 'GatehouseUpstreamAuthRefused',
    series: [
      [on('gatehouse_destination_calls_total', 'kind="kinesis",target="fleet",outcome="retryable",reason="auth"'), '0 0 3 3'],
      [on('gatehouse_destination_calls_total', 'kind="kinesis",target="fleet",outcome="retryable",reason="network"'), '0 0 3 3'],
    ],
    quietAt: '1m',
    firesAt: '3m',
    severity: 'critical',
    labels: { kind: 'kinesis', target: 'fleet', outcome: 'retryable', reason: 'auth' },
    summary: `${INSTANCE}: the kinesis destination fleet refuses the gateway's credentials`,
  },
  {
    alert: 'GatehouseDeadLetters',
    series: [[on('gatehouse_export_dead_letters_total', 'exporter="kinesis-up"'), '0 0 2 2']],
    quietAt: '1m',
    firesAt: '3m',
    labels: { exporter: 'kinesis-up' },
    summary: `${INSTANCE}: exporter kinesis-up moved records its destination refused to dead letters`,
  },
  {
    alert: 'GatehouseSourceDown',
    series: [[on('gatehouse_source_up', 'kind="modbus",name="plc"'), '1 0x20']],
    quietAt: '5m',
    firesAt: '12m',
    labels: { kind: 'modbus', name: 'plc' },
    summary: `${INSTANCE}: modbus source plc is not up`,
  },
  {
    alert: 'GatehouseSyslogMessagesDropped',
    series: [[on('gatehouse_syslog_source_dropped_total', 'source="cabinet",reason="busy"'), '0 0 4 4']],
    quietAt: '1m',
    firesAt: '3m',
    labels: { source: 'cabinet', reason: 'busy' },
    summary: `${INSTANCE}: syslog source cabinet dropped messages (busy)`,
  },
  {
    alert: 'GatehouseSyslogSenderOnWrongPort',
    // connections accepted or idle do not fire it
    series: [
      [on('gatehouse_syslog_source_connections_total', 'source="cabinet",transport="tcp",outcome="tls-on-tcp"'), '0 0 1 2'],
      [on('gatehouse_syslog_source_connections_total', 'source="cabinet",transport="tcp",outcome="accepted"'), '0 5 10 15'],
    ],
    quietAt: '1m',
    firesAt: '3m',
    labels: { source: 'cabinet', transport: 'tcp', outcome: 'tls-on-tcp' },
    summary: `${INSTANCE}: syslog source cabinet: a sender's TLS does not match the port (tls-on-tcp)`,
  },
  {
    alert: 'GatehouseSyslogSenderOnWrongPort',
    // rsyslog's gtls refusing the certificate after the handshake, at each resumeInterval
    series: [[on('gatehouse_syslog_source_connections_total', 'source="cabinet",transport="tls",outcome="closed-before-data"'), '0 0 3 6']],
    quietAt: '1m',
    firesAt: '3m',
    labels: { source: 'cabinet', transport: 'tls', outcome: 'closed-before-data' },
    summary: `${INSTANCE}: syslog source cabinet: a sender's TLS does not match the port (closed-before-data)`,
  },
  {
    alert: 'GatehouseRuleErrors',
    series: [[on('gatehouse_rule_errors_total', 'rule="speeding"'), '0 0 1 1']],
    quietAt: '1m',
    firesAt: '3m',
    labels: { rule: 'speeding' },
    summary: `${INSTANCE}: rule speeding fails`,
  },
  {
    alert: 'GatehouseRuleErrors',
    series: [[on('gatehouse_rule_action_failures_total', 'rule="speeding",action="republish"'), '0 0 1 1']],
    quietAt: '1m',
    firesAt: '3m',
    labels: { rule: 'speeding', action: 'republish' },
    summary: `${INSTANCE}: rule speeding fails`,
  },
  {
    alert: 'GatehouseRuleSetRolledBack',
    series: [[on('gatehouse_ruleset_auto_rollbacks_total'), '0 0 1 1']],
    quietAt: '1m',
    firesAt: '3m',
    summary: `${INSTANCE}: a remote rule update was rolled back`,
  },
  {
    alert: 'GatehouseControlDisconnected',
    series: [[on('gatehouse_control_channel_connected', 'channel="upstream"'), '1 0x40']],
    quietAt: '20m',
    firesAt: '35m',
    labels: { channel: 'upstream' },
    summary: `${INSTANCE}: the control channel upstream has been down for 30 minutes`,
  },
  {
    alert: 'GatehouseJobFailing',
    series: [
      [on('gatehouse_job_runs_total', 'name="heartbeat",result="failed"'), '0 0 1 1'],
      [on('gatehouse_job_runs_total', 'name="heartbeat",result="ok"'), '0 1 2 3'],
    ],
    quietAt: '1m',
    firesAt: '3m',
    labels: { name: 'heartbeat', result: 'failed' },
    summary: `${INSTANCE}: scheduled job heartbeat failed`,
  },
  {
    alert: 'GatehouseCertificateExpiresSoon',
    // 10 days left (time() starts at 0 in promtool); another with 20 days left stays quiet
    series: [
      [on('gatehouse_tls_cert_expiry_timestamp_seconds', 'use="client",kind="exporter",connection="bridge"'), '864000x100'],
      [on('gatehouse_tls_cert_expiry_timestamp_seconds', 'use="client",kind="exporter",connection="far"'), '1728000x100'],
    ],
    quietAt: '30m',
    firesAt: '70m',
    labels: { use: 'client', kind: 'exporter', connection: 'bridge' },
    summary: `${INSTANCE}: the client certificate of exporter bridge expires within 14 days`,
  },
  {
    alert: 'GatehouseServedCertificateExpiresSoon',
    series: [[on('gatehouse_broker_tls_cert_expiry_timestamp_seconds', 'listener="mqtts"'), '864000x100']],
    quietAt: '30m',
    firesAt: '70m',
    labels: { listener: 'mqtts' },
    summary: `${INSTANCE}: a certificate the gateway serves (mqtts) expires within 14 days`,
  },
  {
    // an http source's certificate (its own gauge, the listener label the source's name): devices
    // posting over HTTPS refuse an expired one as MQTT clients do
    alert: 'GatehouseServedCertificateExpiresSoon',
    series: [
      [on(`${httpSourceTls('devices').metrics}_cert_expiry_timestamp_seconds`, 'listener="devices"'), '864000x100'],
      [on(`${httpSourceTls('lan').metrics}_cert_expiry_timestamp_seconds`, 'listener="lan"'), '1728000x100'],
    ],
    quietAt: '30m',
    firesAt: '70m',
    labels: { listener: 'devices' },
    summary: `${INSTANCE}: a certificate the gateway serves (devices) expires within 14 days`,
  },
  {
    alert: 'GatehouseBrokerCrlExpiresSoon',
    // 2 days to its nextUpdate; another listener's CRL with 5 days stays quiet
    series: [
      [on('gatehouse_broker_tls_crl_next_update_timestamp_seconds', 'listener="mqtts"'), '172800x100'],
      [on('gatehouse_broker_tls_crl_next_update_timestamp_seconds', 'listener="lan"'), '432000x100'],
    ],
    quietAt: '30m',
    firesAt: '70m',
    labels: { listener: 'mqtts' },
    summary: `${INSTANCE}: the CRL of listener mqtts reaches its nextUpdate within 3 days`,
  },
  {
    alert: 'GatehouseLogNotWritten',
    series: [[on('gatehouse_log_write_failures_total'), '0 0 4 4']],
    quietAt: '1m',
    firesAt: '3m',
    summary: `${INSTANCE}: the gateway cannot write its log`,
  },
  {
    alert: 'GatehouseAddressBanned',
    series: [[on('gatehouse_mqtt_auth_bans_total', 'scope="address"'), '0 0 1 1']],
    quietAt: '1m',
    firesAt: '3m',
    severity: 'info',
    labels: { scope: 'address' },
    summary: `${INSTANCE}: MQTT clients were banned for repeated wrong passwords (address)`,
  },
  {
    alert: 'GatehouseHttpSourceAddressBanned',
    // requests refused (429) from a banned address; other refusals (401) stay quiet
    series: [
      [on('gatehouse_http_source_requests_total', 'source="devices",outcome="banned"'), '0 0 2 3'],
      [on('gatehouse_http_source_requests_total', 'source="devices",outcome="unauthorized"'), '0 5 10 15'],
    ],
    quietAt: '1m',
    firesAt: '3m',
    severity: 'info',
    labels: { source: 'devices', outcome: 'banned' },
    summary: `${INSTANCE}: http source devices refused requests from an address banned for repeated failed authentications`,
  },
  {
    alert: 'GatehouseRevokedCertificateTried',
    // an unknown CA's attempts do not fire it
    series: [
      [on('gatehouse_broker_tls_handshake_failures_total', 'listener="mqtts",reason="revoked"'), '0 0 1 1'],
      [on('gatehouse_broker_tls_handshake_failures_total', 'listener="mqtts",reason="unknown_ca"'), '0 3 6 9'],
    ],
    quietAt: '1m',
    firesAt: '3m',
    severity: 'info',
    labels: { listener: 'mqtts', reason: 'revoked' },
    summary: `${INSTANCE}: a revoked client certificate tried listener mqtts`,
  },
  {
    // the firmware's since-boot bit set by a dip between reads: fires at once, while the "now" bit is 0 again
    alert: 'GatehouseUnderVoltage',
    series: [
      [on('gatehouse_host_throttle_occurred', 'flag="under_voltage"'), '0 0 1 1 1'],
      [on('gatehouse_host_throttle_active', 'flag="under_voltage"'), '0 0 1 0 0'],
      [on('gatehouse_host_throttle_occurred', 'flag="soft_temp_limit"'), '1 1 1 1 1'],
    ],
    quietAt: '1m',
    firesAt: '4m',
    summary: `${INSTANCE}: the board's power supply fell under 4.63 V since its last boot`,
  },
  {
    // a kernel with only the hwmon alarm (no since-boot bits)
    alert: 'GatehouseUnderVoltage',
    series: [[on('gatehouse_host_throttle_active', 'flag="under_voltage"'), '0 0 1 1 1']],
    quietAt: '1m',
    firesAt: '3m',
    summary: `${INSTANCE}: the board's power supply fell under 4.63 V since its last boot`,
  },
  {
    alert: 'GatehouseThrottled',
    series: [
      [on('gatehouse_host_throttle_active', 'flag="throttled"'), '0 1x20'],
      [on('gatehouse_host_throttle_active', 'flag="soft_temp_limit"'), '1x20'],
    ],
    quietAt: '5m',
    firesAt: '15m',
    summary: `${INSTANCE}: the board's CPU has been throttled for 10 minutes`,
  },
  {
    // the hottest zone counts; a cooler zone beside it changes nothing
    alert: 'GatehouseHot',
    series: [
      [on('gatehouse_host_temperature_celsius', 'zone="thermal_zone0",type="cpu-thermal"'), '60 78x30'],
      [on('gatehouse_host_temperature_celsius', 'zone="thermal_zone1",type="rp1_adc"'), '40x30'],
    ],
    quietAt: '10m',
    firesAt: '20m',
    summary: `${INSTANCE}: the board has been above 75 °C for 15 minutes`,
  },
  {
    alert: 'GatehouseEmmcWearing',
    series: [
      [on('gatehouse_host_emmc_pre_eol', 'device="mmcblk0"'), '1 1 2 2'],
      [on('gatehouse_host_emmc_life_used_ratio', 'device="mmcblk0",cells="A"'), '0.3 0.3 0.3 0.3'],
    ],
    quietAt: '1m',
    firesAt: '3m',
    labels: { device: 'mmcblk0' },
    summary: `${INSTANCE}: the eMMC mmcblk0 is wearing out`,
  },
];

async function ruleFile(): Promise<RuleFile> {
  return parseYaml(await readFile(RULES_FILE, 'utf8')) as RuleFile;
}

const alertsOf = (rules: RuleFile): string[] => rules.groups.flatMap((g) => g.rules.map((r) => r.alert));

test('promtool checks the shipped alerting rules', { skip }, async () => {
  const rules = await ruleFile();
  const { stdout } = await run('promtool', ['check', 'rules', RULES_FILE]);
  assert.match(stdout, new RegExp(`SUCCESS: ${alertsOf(rules).length} rules found`));
});

test('each shipped alert fires when it should and not before (promtool test rules)', { skip }, async (t) => {
  const rules = await ruleFile();
  const untested = alertsOf(rules).filter((a) => !CASES.some((c) => c.alert === a));
  assert.deepEqual(untested, [], 'every alert of the file has a case here');
  const dir = await tempDir(t, 'gatehouse-promtool-');
  // The descriptions are the operator's text, not the subject: a copy without them, so a case
  // states the summary (labels rendered) alone.
  for (const g of rules.groups) for (const r of g.rules) delete r.annotations.description;
  await writeFile(join(dir, 'alerts.yaml'), stringifyYaml(rules));
  const tests = CASES.map((c) => ({
    interval: '1m',
    input_series: c.series.map(([series, values]) => ({ series, values })),
    alert_rule_test: [
      { eval_time: c.quietAt, alertname: c.alert, exp_alerts: [] },
      {
        eval_time: c.firesAt,
        alertname: c.alert,
        exp_alerts: [
          {
            exp_labels: { severity: c.severity ?? 'warning', instance: INSTANCE, job: 'gatehouse', ...c.labels },
            exp_annotations: { summary: c.summary },
          },
        ],
      },
    ],
  }));
  const file = join(dir, 'alerts.test.yaml');
  await writeFile(file, stringifyYaml({ rule_files: ['alerts.yaml'], evaluation_interval: '1m', tests }));
  const result = await run('promtool', ['test', 'rules', file]).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
  assert.equal(result.code, 0, result.out);
  assert.match(result.out, /SUCCESS/);
});

interface PromRule {
  name: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
}

async function api<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  assert.equal(body.status, 'success', `${path}: ${body.error ?? res.status}`);
  return body.data;
}

test('a real Prometheus scraping a real gateway evaluates every shipped rule without error, and an alert fires end to end', { skip }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-prom-gw-');
  // A job that fails every second (its rule does not exist): GatehouseJobFailing, live.
  const config = await writeConfig(
    dir,
    [`dataDir: ${join(dir, 'data')}`, 'jobs:', "  - { name: broken-toggle, schedule: '* * * * * *', type: disable-rule, rule: no_such_rule }", ''].join('\n'),
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.stop());
  const prom = await startPrometheus(t, [`127.0.0.1:${gw.adminPort}`], [RULES_FILE]);

  await waitUntil(
    async () => (await api<{ activeTargets: Array<{ health: string }> }>(prom.url, '/api/v1/targets')).activeTargets[0]?.health === 'up',
    'Prometheus scrapes the gateway',
    30_000,
    200,
  );
  // every rule evaluated after the first scrape, none in error
  const evaluated = await waitUntil(
    async () => {
      const data = await api<{ groups: Array<{ rules: PromRule[] }> }>(prom.url, '/api/v1/rules');
      const all = data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
    },
    'Prometheus evaluates every rule',
    30_000,
    200,
  );
  const failing = evaluated.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`);
  assert.deepEqual(failing, [], 'rules whose evaluation fails on a real gateway');
  assert.equal(evaluated.length, alertsOf(await ruleFile()).length);

  const alert = await waitUntil(
    async () => {
      const data = await api<{ alerts: Array<{ labels: Record<string, string>; state: string; annotations: Record<string, string> }> }>(
        prom.url,
        '/api/v1/alerts',
      );
      return data.alerts.find((a) => a.labels.alertname === 'GatehouseJobFailing' && a.state === 'firing');
    },
    'GatehouseJobFailing fires',
    30_000,
    200,
  );
  assert.equal(alert.labels.name, 'broken-toggle');
  assert.equal(alert.labels.job, 'gatehouse', 'the scrape job label is the target label');
  assert.equal(alert.annotations.summary, `127.0.0.1:${gw.adminPort}: scheduled job broken-toggle failed`);

  // no gateway label renamed by Prometheus because it collides with a target label
  for (const label of ['exported_job', 'exported_instance']) {
    const series = await api<unknown[]>(prom.url, `/api/v1/series?match[]=${encodeURIComponent(`{__name__=~"gatehouse_.+",${label}=~".+"}`)}`);
    assert.deepEqual(series, [], `gateway series with ${label}`);
  }
});

test("every metric the shipped rules read is one a gateway exports, and promtool's lint of /metrics finds only prom-client's names", { skip }, async (t) => {
  const dir = await tempDir(t, 'gatehouse-prom-names-');
  // with an http source and a syslog source, whose metrics exist only with one
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nsources:\n  - { type: http, name: devices, port: ${await freePort(t)} }\n  - { type: syslog, name: cabinet, udp: { port: 0 } }\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.stop());
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const exported = new Set([...metrics.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  // the admin API's, an http source's and a syslog source's certificate gauges exist only with their tls; their names are the code's
  exported.add(`${ADMIN_TLS.metrics}_cert_expiry_timestamp_seconds`);
  exported.add(`${httpSourceTls('any').metrics}_cert_expiry_timestamp_seconds`);
  exported.add(`${syslogSourceTls('any').metrics}_cert_expiry_timestamp_seconds`);
  // the board's gauges exist only where their files do (a Pi's firmware flags, thermal zones, an eMMC: runtime/host/health.ts)
  for (const name of HOST_METRICS) exported.add(name);
  const rules = await ruleFile();
  const read = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => [...r.expr.matchAll(/\bgatehouse_[a-z0-9_]+/g)].map((m) => m[0]))));
  assert.ok(read.size >= 15, `the rules read ${read.size} metrics`);
  const unknown = [...read].filter((name) => !exported.has(name));
  assert.deepEqual(unknown, [], 'metrics the rules read that no gateway exports');

  const lint = await new Promise<string>((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (_err, stdout, stderr) => resolve(stdout + stderr));
    child.stdin!.end(metrics);
  });
  const problems = lint
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
  // prom-client's default metrics name three gauges *_total (nodejs_active_handles_total, ...)
  assert.deepEqual(problems, [
    'gatehouse_nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
    'gatehouse_nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
    'gatehouse_nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
  ]);
});
