// docs/destinations.md's prometheus "Try it" runs as written: Prometheus started with the page's
// flags (its port moved to a free one, its TSDB in a temp dir), the page's gatehouse.yaml started as
// a real gateway process, the page's mosquitto_pub and curl lines run by sh, and the query answers
// what the comment under it shows (the sample's time aside).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { needBinary, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { startPrometheusReceiver } from '../helpers/peers.js';

/** The fenced blocks of `lang` in the page's text from `heading` to the next heading of its level. */
function blocks(text: string, heading: string, lang: string): string[] {
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `docs/destinations.md has '${heading}'`);
  const end = text.indexOf('\n### ', from + 1);
  const section = text.slice(from, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\\n\`\`\``, 'g'))].map((m) => m[1]!);
}

const skip = needBinary('prometheus', 'prometheus') ?? needBinary('mosquitto_pub', 'mosquitto-clients') ?? needBinary('curl', 'curl');

test("docs/destinations.md prometheus 'Try it': the reading published is the sample the PromQL query shows", { skip, timeout: 90_000 }, async (t) => {
  const page = await readFile(join(repoRoot, 'docs', 'destinations.md'), 'utf8');
  const [startProm, query] = blocks(page, '### Try it\n\nA Prometheus of its own', 'sh');
  const [yaml] = blocks(page, '### Try it\n\nA Prometheus of its own', 'yaml');
  assert.ok(startProm && query && yaml);
  // The page's Prometheus command line: the flags the helper starts it with.
  for (const flag of ['--web.enable-remote-write-receiver', '--web.listen-address=127.0.0.1:9091', '--storage.tsdb.path=', '--config.file='])
    assert.ok(startProm.includes(flag), flag);
  const prom = await startPrometheusReceiver(t);
  const dir = await tempDir(t);
  assert.match(yaml, /url: http:\/\/127\.0\.0\.1:9091\/api\/v1\/write/);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replace('127.0.0.1:9091', `127.0.0.1:${prom.port}`)}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const lines = query.split('\n');
  const [pub, curl] = lines.filter((l) => !l.startsWith('#'));
  const shown = lines.find((l) => l.startsWith('# {'))!.slice(2);
  assert.ok(pub?.startsWith('mosquitto_pub ') && curl?.startsWith('curl '));
  execFileSync('sh', ['-ec', pub.replace('mosquitto_pub ', `mosquitto_pub -p ${gw.mqttPort} `)], { timeout: 15_000 });
  // The exporter sends within lingerMs: the query is asked again until the sample is there.
  const answer = await waitUntil(
    () => {
      const out = execFileSync('sh', ['-ec', curl.replaceAll('127.0.0.1:9091', `127.0.0.1:${prom.port}`)], { encoding: 'utf8', timeout: 15_000 });
      return out.includes('"result":[{') ? out : undefined;
    },
    'the sample queried',
    20_000,
    200,
  );
  const timeless = (s: string): string => s.trim().replace(/"value":\[[\d.]+,/, '"value":[T,');
  assert.equal(timeless(answer), timeless(shown));
  const rpm = execFileSync('curl', ['-s', `http://127.0.0.1:${prom.port}/api/v1/query`, '--data-urlencode', 'query=rpm + running'], { encoding: 'utf8' });
  assert.match(rpm, /"value":\[[\d.]+,"1201"\]/, 'rpm and running (1) are there as well');
});
