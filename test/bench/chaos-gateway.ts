// The chaos bench's gateway (test/bench/chaos.ts): the real CLI in a child process
// (test/helpers/gateway-process.ts), started again after each kill -9, watched for what was not
// caused on purpose: an exit nobody asked for (with its stderr), an error or fatal log line other
// than the full disk's own, a start not ready within 30 s. Warnings are counted by message.
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { shippedLauncher } from './launcher.js';

const shipped = shippedLauncher();

/** Error-level log lines the faults are meant to cause (not findings). */
const EXPECTED_ERRORS = ['store not writable: data appends are refused'];

export const elapsed = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

// ---- the gateway -------------------------------------------------------------------------------

export interface Finding {
  at: string;
  what: string;
  detail: string;
}

export class Gateway {
  gw: GatewayProcess | undefined;
  starts = 0;
  kills = 0;
  readonly findings: Finding[] = [];
  readonly warnings = new Map<string, number>();
  /** File-source and store log lines (--trace), prefixed with the gateway run number. */
  trace: string[] | undefined;
  private expectingExit = false;
  private stderr = '';

  constructor(
    private readonly config: string,
    private readonly args: string[],
    private readonly t0: number,
  ) {}

  get adminUrl(): string {
    return this.gw?.adminUrl ?? '';
  }

  async start(): Promise<void> {
    this.expectingExit = false;
    this.stderr = '';
    try {
      // As installed: the node flags and environment of bin/gatehouse.js's #! line.
      this.gw = await startGatewayProcess(this.config, this.args, 30_000, shipped.nodeFlags, shipped.env);
    } catch (err) {
      this.gw = undefined;
      this.findings.push({ at: elapsed(this.t0), what: 'start failed or not ready within 30 s', detail: String(err).slice(0, 2000) });
      throw err;
    }
    this.starts++;
    const gw = this.gw;
    gw.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    gw.proc.once('exit', (code, signal) => {
      if (this.expectingExit || this.gw !== gw) return;
      this.findings.push({
        at: elapsed(this.t0),
        what: `gateway exited by itself (code ${String(code)}, signal ${String(signal)})`,
        detail: `${this.stderr.slice(-3000)}\nlast log lines: ${JSON.stringify(gw.logs.slice(-8)).slice(0, 3000)}`,
      });
      this.gw = undefined;
    });
  }

  /** Read the log lines since the last look: error/fatal lines are findings, warnings are counted. */
  scanLogs(): void {
    const gw = this.gw;
    if (!gw) return;
    const lines = gw.logs.splice(0);
    for (const l of lines) {
      if (this.trace && (l.source !== undefined || l.c === 'file' || l.c === 'store') && l.c !== 'rules')
        this.trace.push(`${this.starts} ${JSON.stringify(l)}`);
      const level = typeof l.level === 'number' ? l.level : 0;
      const msg = String(l.msg ?? l.raw ?? '');
      // The disk guard's own error line is what a full disk must say (the phases cause it).
      if (level >= 50 && !EXPECTED_ERRORS.some((e) => msg.startsWith(e)))
        this.findings.push({ at: elapsed(this.t0), what: `log level ${level}: ${msg.slice(0, 200)}`, detail: JSON.stringify(l).slice(0, 2000) });
      else if (level === 40) {
        const key = `${String(l.code ?? '')} ${msg.replace(/\d+/g, 'N').slice(0, 120)}`;
        this.warnings.set(key, (this.warnings.get(key) ?? 0) + 1);
      }
    }
  }

  async kill9(): Promise<void> {
    if (!this.gw) return;
    this.scanLogs();
    this.expectingExit = true;
    await this.gw.kill9();
    this.gw = undefined;
    this.kills++;
  }

  async stop(): Promise<number | null> {
    if (!this.gw) return null;
    this.scanLogs();
    this.expectingExit = true;
    const gw = this.gw;
    const timer = setTimeout(() => gw.proc.kill('SIGKILL'), 30_000);
    const code = await gw.stop();
    clearTimeout(timer);
    this.scanLogs();
    this.gw = undefined;
    return code;
  }

  async get(path: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.adminUrl}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.json() };
  }
}

export interface ExporterJson {
  name: string;
  deadLetters: number;
  exportedRecords: number;
  backlog: { records: number };
}

/**
 * The exporters of every stream, summed: the configured one of `archive`, and with --actions those
 * of the `http` rule actions (retiring ones too, until they go). Undefined before any exists.
 */
export async function exporterStatus(g: Gateway): Promise<ExporterJson | undefined> {
  const { body } = await g.get('/api/streams');
  const streams = (body as { streams: Array<{ name: string; exporters: ExporterJson[] }> }).streams;
  const all = streams.flatMap((s) => s.exporters);
  if (all.length === 0) return undefined;
  return {
    name: all.map((e) => e.name).join('+'),
    deadLetters: all.reduce((n, e) => n + e.deadLetters, 0),
    exportedRecords: all.reduce((n, e) => n + e.exportedRecords, 0),
    backlog: { records: all.reduce((n, e) => n + e.backlog.records, 0) },
  };
}

/** One dead letter as the records route gives it. */
export interface DeadLetterJson {
  seq: number;
  payload?: string;
  attrs?: Record<string, string>;
}

/**
 * Every record of every dead-letter stream (`*-dlq`) the gateway holds, read to the end page by
 * page. Dead letters are durable: this finds those of every process of the run, where the
 * exporters' `deadLetters` counters only count since the last start.
 */
export async function allDeadLetters(g: Gateway): Promise<Map<string, DeadLetterJson[]>> {
  const { body } = await g.get('/api/streams');
  const names = (body as { streams: Array<{ name: string }> }).streams.map((s) => s.name).filter((n) => n.endsWith('-dlq'));
  const out = new Map<string, DeadLetterJson[]>();
  for (const name of names) {
    const recs: DeadLetterJson[] = [];
    let from = 1;
    for (;;) {
      const page = (await g.get(`/api/streams/${encodeURIComponent(name)}/records?from=${from}&limit=1000`)).body as {
        records?: DeadLetterJson[];
        next?: number;
      };
      recs.push(...(page.records ?? []));
      if (!page.records?.length || page.next === undefined || page.next <= from) break;
      from = page.next;
    }
    if (recs.length > 0) out.set(name, recs);
  }
  return out;
}
