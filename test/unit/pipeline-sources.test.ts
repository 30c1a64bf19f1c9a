// The sources door: the `sources:` config key (validated per kind, unknown types refused with the
// key path), configured sources created through the registry, and the SourceSet that starts them
// with their own intake, stops them in reverse and reports status and gatehouse_source_up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { createConfiguredSources, SourceSet } from '../../gateway/pipeline/sources/index.js';
import { Ingest } from '../../gateway/pipeline/ingest.js';
import type { Intake, Source, SourceStatus } from '../../gateway/pipeline/contract.js';
import { isGatehouseError } from '../../core/errors.js';
import { memoryStreams } from '../helpers/memory-streams.js';
import { metricValue, tempDir, testDeps } from '../helpers/index.js';

test('sources: defaults to an empty list', async () => {
  const c = await loadConfig(undefined);
  assert.deepEqual(c.sources, []);
});

test('a config with an unknown source type is refused with its key path', async (t) => {
  const file = join(await tempDir(t), 'g.yaml');
  await writeFile(file, 'sources:\n  - { type: warp-drive, name: w1 }\n');
  await assert.rejects(
    loadConfig(file),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && /sources\.0\.type/.test(err.message) && /unknown source type/.test(err.message),
  );
});

test('createConfiguredSources refuses an unknown type and a duplicate name with the key path', async () => {
  const deps = { ...testDeps(), dataDir: '.' };
  await assert.rejects(
    createConfiguredSources([{ type: 'warp-drive', name: 'w1', enabled: true }], deps),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && err.where === 'sources.0.type',
  );
  await assert.rejects(
    createConfiguredSources(
      [
        { type: 'x', name: 'a', enabled: false },
        { type: 'x', name: 'a', enabled: false },
      ],
      deps,
    ),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && err.where === 'sources.1.name',
  );
  assert.deepEqual(await createConfiguredSources([{ type: 'warp-drive', name: 'off', enabled: false }], deps), [], 'a disabled entry is not created');
});

/** A minimal Source (a test double: it reads nothing) recording what the set hands it. */
class RecordingSource implements Source {
  readonly kind = 'test';
  intake: Intake | undefined;
  state = 'stopped';
  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {}
  async start(intake: Intake): Promise<void> {
    this.intake = intake;
    this.state = 'running';
    this.log.push(`start ${this.name}`);
  }
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.log.push(`stop ${this.name}`);
  }
  status(): SourceStatus {
    return { kind: this.kind, name: this.name, state: this.state };
  }
}

test('SourceSet starts in order with per-source intakes, stops in reverse, reports status and gatehouse_source_up', async () => {
  const deps = testDeps();
  const store = await memoryStreams();
  const ingest = new Ingest({ handle: () => undefined }, store);
  const log: string[] = [];
  const a = new RecordingSource('a', log);
  const b = new RecordingSource('b', log);
  const set = new SourceSet([a, b], ingest, deps.registry);
  assert.equal(await metricValue(deps.registry, 'gatehouse_source_up', { kind: 'test', name: 'a' }), 0);
  await set.start();
  assert.deepEqual(
    set.status().map((s) => s.state),
    ['running', 'running'],
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_source_up', { kind: 'test', name: 'b' }), 1);
  await a.intake!.commitMeta('k', Buffer.from('va'));
  await b.intake!.commitMeta('k', Buffer.from('vb'));
  assert.equal((await a.intake!.readMeta('k'))?.toString(), 'va');
  assert.equal((await store.getMeta('src/b/k'))?.toString(), 'vb');
  await set.stop();
  assert.deepEqual(log, ['start a', 'start b', 'stop b', 'stop a']);
  assert.equal(await metricValue(deps.registry, 'gatehouse_source_up', { kind: 'test', name: 'a' }), 0);
});

test("gatehouse_source_up is 1 for a connected source (the MQTT source's state), 0 while it connects", async () => {
  const deps = testDeps();
  const store = await memoryStreams();
  const ingest = new Ingest({ handle: () => undefined }, store);
  const link = new RecordingSource('link', []);
  const set = new SourceSet([link], ingest, deps.registry);
  await set.start();
  link.state = 'connected';
  assert.equal(await metricValue(deps.registry, 'gatehouse_source_up', { kind: 'test', name: 'link' }), 1);
  link.state = 'connecting';
  assert.equal(await metricValue(deps.registry, 'gatehouse_source_up', { kind: 'test', name: 'link' }), 0);
  await set.stop();
});
