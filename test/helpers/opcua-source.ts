// The OPC UA source under test, as the OPC UA tests start and read it (opcua-source,
// opcua-values): one rig that gives each source its own data dir (removed once it stopped: it
// writes its PKI there), captures its log and stops it at the end of the test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import type { Source } from '../../gateway/pipeline/contract.js';
import type { SourceDeps } from '../../gateway/pipeline/sources/kind.js';
import { payloads } from './committed.js';
import { capturedLogger, type LogLine, sourceDeps, type StoreIntake } from './industrial.js';

export interface OpcuaRun {
  source: Source;
  deps: SourceDeps;
  /** The source's warnings and errors, parsed. */
  logs: LogLine[];
}

/**
 * Creates an OPC UA source named 'ua' from `raw` (its options as a config file has them, checked by
 * the schema), starts it on `intake` and, at the end of the test, stops it and removes its data dir.
 * Its log is captured unless `extra` brings its own logger; `extra` also carries a localBus's
 * publish/subscribe or a clock.
 */
export async function startOpcua(t: TestContext, raw: Record<string, unknown>, intake: StoreIntake, extra: Partial<SourceDeps> = {}): Promise<OpcuaRun> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  const { logger, lines: logs } = capturedLogger();
  const deps = sourceDeps(t, { dataDir, logger, ...extra });
  const source = await opcuaKind.create(opcuaOptionsSchema.parse({ type: 'opcua', name: 'ua', ...raw }), deps);
  await source.start(intake);
  t.after(async () => {
    await source.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { source, deps, logs };
}

/** What status().details holds for an OPC UA source (the fields the tests read). */
export interface OpcuaDetails {
  tagErrors: Record<string, string>;
  badStatus: number;
  uncertainStatus: number;
  commitErrors: number;
  dropped: number;
  inFlight: number;
  reconnects: number;
  gaps: number;
  lastGap: { ms: number } | null;
  lastGoodRead: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  writes: { ok: number; refused: number; failed: number };
}

// details is a record for every kind; the OPC UA kind fills it with these fields.
export const opcuaDetails = (source: Source): OpcuaDetails => source.status().details as unknown as OpcuaDetails;

/** The committed payloads of source 'ua''s item `tag` (topic opcua/ua/<tag>). */
export const tagPayloads = (intake: StoreIntake, tag: string): Promise<Record<string, unknown>[]> => payloads(intake, `opcua/ua/${tag}`);
