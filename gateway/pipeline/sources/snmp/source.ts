// A `type: snmp` source: its polls (poller.ts) and its trap listener (traps.ts), one status.
import { errorMessage } from '../../../../core/errors.js';
import type { Intake, Source, SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import type { NetSnmp } from './lib.js';
import type { MibNames } from './mibs.js';
import { snmpMetrics } from './metrics.js';
import type { SnmpSourceOptions } from './options.js';
import { SnmpPoller } from './poller.js';
import { TrapListener } from './traps.js';

/** How long a stop waits for traps' commits (their informs answered meanwhile). */
const STOP_DRAIN_MS = 2000;

export class SnmpSource implements Source {
  readonly kind = 'snmp';
  readonly name: string;
  private state = 'stopped';
  private lastError: string | undefined;
  private readonly poller: SnmpPoller | undefined;
  private readonly traps: TrapListener | undefined;

  constructor(
    private readonly opts: SnmpSourceOptions,
    lib: NetSnmp,
    deps: SourceDeps,
    mibs?: MibNames,
  ) {
    this.name = opts.name;
    const metrics = snmpMetrics(deps.registry);
    if (opts.polls.length > 0) this.poller = new SnmpPoller(lib, opts, deps, metrics);
    if (opts.traps) this.traps = new TrapListener(lib, opts.name, opts.traps, deps, metrics, mibs);
    this.logger = deps.logger;
  }

  private readonly logger: SourceDeps['logger'];

  async start(intake: Intake): Promise<void> {
    try {
      this.poller?.open();
      await this.traps?.start(intake);
    } catch (err) {
      await this.poller?.stop();
      this.state = 'failed';
      this.lastError = errorMessage(err);
      throw err;
    }
    this.poller?.start(intake);
    this.state = 'running';
    this.logger.info({ targets: this.opts.targets.length, polls: this.opts.polls.length, traps: this.traps?.address ?? null }, 'snmp source started');
  }

  async stop(): Promise<void> {
    await Promise.all([this.poller?.stop(), this.traps?.stop(STOP_DRAIN_MS)]);
    if (this.state !== 'failed') this.state = 'stopped';
  }

  status(): SourceStatus {
    const t = this.traps;
    const targets = this.poller?.status() ?? [];
    // the first failing target's error: what `gatehouse sources` and the status page show
    const failing = targets.find((x) => x.state === 'failing');
    const lastError = this.lastError ?? (failing ? `target '${String(failing.name)}': ${String(failing.lastError)}` : undefined);
    return {
      kind: this.kind,
      name: this.name,
      // a source of polls only whose every target fails is not up (gatehouse_source_up 0)
      state: this.state === 'running' && !this.traps && targets.length > 0 && targets.every((x) => x.state === 'failing') ? 'retrying' : this.state,
      details: {
        connected: this.poller?.answering ?? true,
        targets,
        traps: t ? { listening: t.address ?? null, informsAnswered: t.informs, outcomes: { ...t.counts } } : null,
        ...(lastError ? { lastError, ...(failing?.lastErrorAt ? { lastErrorAt: failing.lastErrorAt } : {}) } : {}),
      },
    };
  }
}
