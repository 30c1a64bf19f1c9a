// The README's quick start, end to end, as a new user runs it: the default configuration (only the
// data dir moved to a temp dir, ports picked free), a QoS 1 publish with mosquitto_pub (mqtt.js when
// Debian's mosquitto-clients is missing: the publish is the same), `gatehouse streams`, and the
// record in the NDJSON export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitUntil, which } from '../helpers/index.js';
import { cliCommand, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

test('quick start: publish, `gatehouse streams`, the record in the export file', async (t) => {
  const dir = await tempDir(t);
  const dataDir = join(dir, 'gatehouse-data');
  const gw = await startGatewayProcess(await writeConfig(dir, `dataDir: ${dataDir}\n`));
  t.after(() => gw.stop());

  const payload = '{"temp":96.5}';
  const pub = which('mosquitto_pub');
  if (pub) {
    const r = spawnSync(pub, ['-p', String(gw.mqttPort), '-q', '1', '-t', 'fleet/truck7/engine', '-m', payload], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, `mosquitto_pub failed: ${r.stderr}`);
  } else {
    t.diagnostic('mosquitto_pub not installed (Debian package mosquitto-clients): publishing with mqtt.js instead');
    const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
    await c.publishAsync('fleet/truck7/engine', payload, { qos: 1 });
    await c.endAsync();
  }

  // `gatehouse streams` (the CLI the README shows) once the exporter has delivered the record.
  const { cmd, args } = cliCommand();
  const streamsOut = await waitUntil(
    () => {
      const r = spawnSync(cmd, [...args, 'streams', '--admin', gw.adminUrl], { encoding: 'utf8', timeout: 10_000 });
      return r.status === 0 && /archive-files .*exported through seq 1/.test(r.stdout) ? r.stdout : undefined;
    },
    'the archive exporter to report seq 1 exported',
    15_000,
    100,
  );
  assert.match(streamsOut, /^archive: /m);
  assert.match(streamsOut, /1 appended/);

  // The default exporter writes gzip'd NDJSON (each batch one gzip member): what `zcat` shows.
  const files = (await filesBelow(join(dataDir, 'export'))).filter((f) => f.endsWith('.ndjson.gz'));
  assert.equal(files.length, 1, `expected one export file, found ${files.join(', ')}`);
  assert.match(files[0]!, /export\/\d{4}\/\d{2}\/\d{2}\/\d{2}\//);
  const text = gunzipSync(await readFile(files[0]!)).toString('utf8');
  // The README's `zcat` line, as written (zcat is in every Debian: package gzip).
  if (which('zcat')) assert.equal(spawnSync('zcat', [files[0]!], { encoding: 'utf8' }).stdout, text);
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.topic, 'fleet/truck7/engine');
  assert.ok(JSON.stringify(rec).includes('96.5'), `the export line carries the payload: ${lines[0]}`);
});
