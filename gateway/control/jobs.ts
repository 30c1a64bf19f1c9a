// Scheduled jobs (node-cron 4): heartbeat, store compaction and TTL sweep, rule enable/disable.
// A job never overlaps itself (a tick while the previous run is still going is skipped and
// counted), and a failing job is logged and counted, never fatal: it runs again at its next time.
import { EventEmitter } from 'node:events';
import type { ScheduledTask } from 'node-cron';
import type { Counter, Histogram } from 'prom-client';
import { clocksOf } from '../../core/clock.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { ERRORS, GatehouseError, errorMessage } from '../../core/errors.js';
import { counter, histogram } from '../../core/metrics.js';
import type { LocalStreams } from '../store/types.js';
import type { RuleUpdateStatus } from './rule-set-target.js';
import type { ControlChannel } from './channel.js';
import type { HeartbeatCollector } from './heartbeat.js';
import type { JobOptions } from './options.js';
import { nodeCron } from './cron.js';
import { everyHour, repeatedHourSlot, skippedByDst, systemTimeZone } from './dst-gap.js';

export type JobResult = 'ok' | 'failed' | 'skipped';

/** Emitted as 'run' after every tick of a job (also for skipped ticks). */
export interface JobRunEvent {
  job: string;
  type: JobOptions['type'];
  result: JobResult;
  durationMs: number;
  error?: string;
}

/** The last finished tick of a job (GET /api/jobs, status page, `gatehouse jobs`). */
export interface JobLastRun {
  /** When the tick started (wall clock, ISO 8601). */
  at: string;
  result: JobResult;
  /** Run time on the monotonic clock (0 for a skipped tick). */
  durationMs: number;
  /** Failed only: why. */
  error?: string;
}

/** One job as GET /api/jobs shows it. */
export interface JobStatus {
  name: string;
  type: JobOptions['type'];
  schedule: string;
  /** The job's IANA time zone; null: the system's. */
  timezone: string | null;
  /** enable-rule / disable-rule: the rule it toggles. */
  rule?: string;
  /** A run is going now. */
  running: boolean;
  /** The last finished tick; null before the first. */
  lastRun: JobLastRun | null;
  /** The last failed run, kept after later successful ones (so an intermittent failure stays visible). */
  lastError: { at: string; message: string } | null;
  /** The next planned tick (ISO 8601), null when none is planned. */
  nextRun: string | null;
  /** Ticks since the gateway started, by result (as gatehouse_job_runs_total). */
  runs: Record<JobResult, number>;
}

/** How long a heartbeat waits for the control broker's acknowledgement before its run fails. */
const HEARTBEAT_ACK_MS = 10_000;

/** Runs one job once; rejects when the job failed. */
export type JobRunner = (job: JobOptions) => Promise<void>;

export interface JobTargets {
  streams: Pick<LocalStreams, 'compact' | 'sweep'>;
  rules: { setRuleEnabled(name: string, enabled: boolean, source: string): Promise<RuleUpdateStatus> };
  channel: ControlChannel;
  heartbeat: HeartbeatCollector;
  /** Default heartbeat topic: <prefix>/<gatewayId>/heartbeat. */
  heartbeatTopic: string;
}

/** The runner for the built-in job types, against the running gateway's parts. */
export function builtinJobRunner(t: JobTargets): JobRunner {
  return async (job) => {
    switch (job.type) {
      case 'heartbeat': {
        // Offline upstream: skip rather than queue stale reports without bound.
        if (!t.channel.connected())
          throw ERRORS.GH_CONTROL_CHANNEL({ reason: `control channel ${t.channel.kind} is not connected: heartbeat not sent` }, { where: `jobs.${job.name}` });
        const report = await t.heartbeat.collect();
        // Bounded: a broker that stops answering (frozen, a half-open link not yet seen by the
        // keepalive) held the run, and every later tick was skipped, for as long as it lasted.
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                ERRORS.GH_CONTROL_CHANNEL(
                  { reason: `control channel ${t.channel.kind} did not acknowledge the heartbeat within ${HEARTBEAT_ACK_MS / 1000} s: not confirmed` },
                  { where: `jobs.${job.name}`, hint: 'check that the control broker is up and answering; the next tick sends a new heartbeat' },
                ),
              ),
            HEARTBEAT_ACK_MS,
          );
        });
        const sent = t.channel.publish(job.topic ?? t.heartbeatTopic, JSON.stringify(report), { qos: 1, retain: false, ingest: true });
        try {
          await Promise.race([sent, late]);
        } finally {
          clearTimeout(timer);
          sent.catch(() => undefined); // settled after the deadline: already reported
        }
        return;
      }
      case 'compact':
        return t.streams.compact();
      case 'sweep':
        return t.streams.sweep();
      case 'enable-rule':
      case 'disable-rule': {
        const s = await t.rules.setRuleEnabled(job.rule!, job.type === 'enable-rule', `job:${job.name}`);
        if (s.state === 'rejected')
          throw ERRORS.GH_JOB_FAILED(
            { reason: `rule toggle refused: ${s.errors.map((e) => e.message).join('; ') || 'no reason given'}` },
            { where: `jobs.${job.name}`, hint: `fix jobs.${job.name}.rule (or the rule set); the job runs again at its next time` },
          );
        return;
      }
    }
  };
}

export interface JobSchedulerDeps extends RuntimeDeps {
  run: JobRunner;
  /** How often the wall clock is compared with the monotonic one (default STEP_CHECK_MS). */
  stepCheckMs?: number;
}

/** How often the wall clock is compared with the monotonic one, to log a step back. */
const STEP_CHECK_MS = 60_000;
/** A wall clock this far behind the elapsed time is a backward step (NTP, a fake-hwclock boot). */
const STEP_BACK_MS = 5_000;
/**
 * A tick found this late still runs, once: an event loop held a few seconds (a store compaction,
 * a burst of commits on a Pi) must not cost the night's disable-rule (node-cron's own runner drops
 * a tick over 1 s late). Later than that, the wall clock was stepped forward: the tick is missed.
 */
const LATE_TICK_MS = 60_000;
/**
 * Longest sleep before the wall clock is looked at again. node-cron's own runner plans on the wall
 * clock once: after a step back its jobs waited for the old plan (weeks, years), and after a step
 * forward it walked every slot in between, one at a time, with a log line each (a 7-day step and a
 * job every second held the event loop 47 s here, 605,000 lines). Each job is planned here
 * instead: node-cron gives the next slot after now (its parser and time zones), a timer sleeps
 * towards it, at most this long, and the next slot is taken again from the wall clock at waking.
 */
const WAKE_MS = 60_000;

interface Entry {
  job: JobOptions;
  /** The schedule (node-cron's parser and time zone), never started: its next slot only. */
  task: ScheduledTask;
  /** The slot the timer sleeps towards. */
  next: Date | undefined;
  /** The schedule on UTC, to match the local wall times a DST jump skips (dst-gap.ts); made when first needed. */
  wallTask?: ScheduledTask;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  /** Monotonic start of the current (or last) run. */
  startedMono: number;
  last: JobLastRun | undefined;
  lastError: JobStatus['lastError'];
  runs: Record<JobResult, number>;
}

export class JobScheduler extends EventEmitter {
  private readonly entries: Entry[] = [];
  private readonly runs: Counter<'name' | 'result'>;
  private readonly seconds: Histogram<'name'>;
  private readonly inflight = new Set<Promise<void>>();
  private stepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly jobs: readonly JobOptions[],
    private readonly deps: JobSchedulerDeps,
  ) {
    super();
    const r = deps.registry;
    // The job's label is `name`, not `job`: Prometheus' scrape target carries its own `job` label,
    // and one from the target renames the gateway's to exported_job (docs/monitoring.md).
    this.runs = counter(r, 'gatehouse_job_runs_total', 'Scheduled job ticks by job name and result (ok, failed, skipped: previous run still going)', [
      'name',
      'result',
    ]);
    this.seconds = histogram(r, 'gatehouse_job_duration_seconds', 'Scheduled job run time, by job name', ['name'], { buckets: [0.01, 0.1, 1, 10, 60] });
  }

  start(): void {
    if (this.entries.length) return;
    const log = this.deps.logger;
    for (const job of this.jobs) {
      const entry: Entry = {
        job,
        running: false,
        startedMono: 0,
        task: undefined as unknown as ScheduledTask,
        next: undefined,
        timer: undefined,
        last: undefined,
        lastError: null,
        runs: { ok: 0, failed: 0, skipped: 0 },
      };
      this.entries.push(entry);
      this.plan(entry);
    }
    if (this.jobs.length === 0) return;
    log.info({ jobs: this.jobs.map((j) => `${j.name} (${j.type}, ${j.schedule})`) }, 'scheduled jobs started');
    // A step back (NTP correcting a Pi that booted on fake-hwclock's time) is seen as the wall
    // clock moving less than the elapsed (monotonic) time: said, and the jobs planned again from
    // the new time at once (each timer looks at the wall clock within WAKE_MS anyway).
    const { now, monotonic } = clocksOf(this.deps);
    let wall = now();
    let mono = monotonic();
    this.stepTimer = setInterval(() => {
      const w = now();
      const m = monotonic();
      const behind = m - mono - (w - wall);
      wall = w;
      mono = m;
      if (behind < STEP_BACK_MS) return;
      log.warn({ steppedBackSeconds: Math.round(behind / 1000) }, 'the wall clock was stepped back: scheduled jobs are planned again from the new time');
      for (const e of this.entries) this.arm(e);
      this.emit('replanned', behind);
    }, this.deps.stepCheckMs ?? STEP_CHECK_MS);
    this.stepTimer.unref();
  }

  /** Parse the entry's schedule (node-cron, never started: our own timer runs it) and plan its first tick. */
  private plan(entry: Entry): void {
    const { job } = entry;
    entry.task = nodeCron().createTask(job.schedule, () => undefined, { name: `gatehouse-${job.name}`, ...(job.timezone ? { timezone: job.timezone } : {}) });
    this.arm(entry);
  }

  /** Sleep towards the next slot after now on the wall clock, at most WAKE_MS. */
  private arm(entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (!this.entries.includes(entry)) return; // stopped
    const planned = entry.task.getNextRuns(1)[0];
    const next = planned && this.dstJump(entry, planned);
    entry.next = next;
    if (!next) return;
    entry.timer = setTimeout(() => this.wake(entry), Math.min(Math.max(0, next.getTime() - Date.now()), WAKE_MS));
  }

  /**
   * The slot, or, across a DST change (dst-gap.ts): the instant the clocks go forward when the jump
   * skips a time the job is set at (it runs at the jump, as with cron); the next real time of a job
   * of every hour when they go back (node-cron's plan skipped one pass of the repeated hour).
   */
  private dstJump(entry: Entry, planned: Date): Date {
    const { job } = entry;
    const matches = (wall: Date): boolean => {
      entry.wallTask ??= nodeCron().createTask(job.schedule, () => undefined, { name: `gatehouse-${job.name}-wall`, timezone: 'UTC' });
      return entry.wallTask.match(wall);
    };
    const step = job.schedule.trim().split(/\s+/).length === 6 ? 1000 : 60_000;
    const zone = job.timezone ?? systemTimeZone();
    const from = Date.now();
    const slot =
      skippedByDst(from, planned.getTime(), zone, matches, step) ??
      (everyHour(job.schedule) ? repeatedHourSlot(from, planned.getTime(), zone, (at) => entry.task.match(at), step) : undefined);
    return slot === undefined ? planned : new Date(slot);
  }

  /** The timer: not due yet (plan again from the wall clock: a step back moves the slot), due (run), or far past it (missed). */
  private wake(entry: Entry): void {
    entry.timer = undefined;
    const slot = entry.next;
    if (!slot) return;
    const late = Date.now() - slot.getTime();
    if (late >= 0 && late <= LATE_TICK_MS) void this.tick(entry);
    else if (late > LATE_TICK_MS) {
      // The wall clock was stepped forward (or the process held for minutes): the ticks in
      // between are not run; one line says so.
      this.deps.logger.warn(
        { job: entry.job.name, from: slot.toISOString(), to: new Date().toISOString() },
        'job ticks missed (the wall clock was stepped forward, or the process was held); the job runs at its next time',
      );
    }
    this.arm(entry);
  }

  /** Run a job now, outside its schedule (admin, tests); same overlap rule. */
  runNow(name: string): Promise<JobRunEvent> {
    const entry = this.entries.find((e) => e.job.name === name);
    if (!entry)
      return Promise.reject(
        new GatehouseError('GH_ARG_INVALID', `no scheduled job named '${name}'`, { hint: `jobs: ${this.jobs.map((j) => j.name).join(', ') || '(none)'}` }),
      );
    return this.tick(entry);
  }

  /** Every job: schedule, last run, next run and counts since start (GET /api/jobs). Read on request, nothing kept per message. */
  status(): JobStatus[] {
    return this.entries.map((e) => ({
      name: e.job.name,
      type: e.job.type,
      schedule: e.job.schedule,
      timezone: e.job.timezone ?? null,
      ...(e.job.rule !== undefined ? { rule: e.job.rule } : {}),
      running: e.running,
      lastRun: e.last ? { ...e.last } : null,
      lastError: e.lastError ? { ...e.lastError } : null,
      nextRun: e.next?.toISOString() ?? null,
      runs: { ...e.runs },
    }));
  }

  /** Stop scheduling, then wait (bounded) for runs in progress. */
  async stop(timeoutMs = 10_000): Promise<void> {
    clearInterval(this.stepTimer);
    this.stepTimer = undefined;
    for (const e of this.entries.splice(0)) {
      clearTimeout(e.timer);
      e.timer = undefined;
      await e.task.destroy();
      await e.wallTask?.destroy();
    }
    if (!this.inflight.size) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  private tick(entry: Entry): Promise<JobRunEvent> {
    const { job } = entry;
    const { now, monotonic } = clocksOf(this.deps);
    const at = new Date(now()).toISOString();
    if (entry.running) {
      this.runs.inc({ name: job.name, result: 'skipped' });
      // Once per run that outlasts its ticks (at debug for the ticks after): a run held for an hour
      // by a job every few seconds wrote a warning at each tick.
      const first = entry.last?.result !== 'skipped';
      this.deps.logger[first ? 'warn' : 'debug'](
        { job: job.name, runningForMs: Math.round(monotonic() - entry.startedMono) },
        'job skipped: its previous run is still going (further skips of this run are logged at debug)',
      );
      return Promise.resolve(this.report(entry, at, { job: job.name, type: job.type, result: 'skipped', durationMs: 0 }));
    }
    entry.running = true;
    const t0 = monotonic();
    entry.startedMono = t0;
    const p = (async (): Promise<JobRunEvent> => {
      let e: JobRunEvent;
      try {
        await this.deps.run(job);
        const durationMs = monotonic() - t0;
        this.runs.inc({ name: job.name, result: 'ok' });
        this.seconds.observe({ name: job.name }, durationMs / 1000);
        this.deps.logger.debug({ job: job.name, durationMs }, 'job done');
        e = { job: job.name, type: job.type, result: 'ok', durationMs };
      } catch (err) {
        const durationMs = monotonic() - t0;
        this.runs.inc({ name: job.name, result: 'failed' });
        this.seconds.observe({ name: job.name }, durationMs / 1000);
        const error = errorMessage(err);
        // Once per change: a job failing the same way at every run (every few seconds, say) would
        // fill the journal with the same line; the status page and /api/jobs keep the last error,
        // gatehouse_job_runs_total counts every run.
        const same = entry.last?.result === 'failed' && entry.last.error === error;
        this.deps.logger[same ? 'debug' : 'error']({ job: job.name, type: job.type, err: error }, 'job failed (runs again at its next time)');
        e = { job: job.name, type: job.type, result: 'failed', durationMs, error };
      }
      // Not running any more by the time the run is reported (a listener reading status() sees it done).
      entry.running = false;
      return this.report(entry, at, e);
    })();
    const tracked = p.then(() => undefined);
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
    return p;
  }

  /** Keep the tick as the job's last run (`at`: when it started), then emit it. */
  private report(entry: Entry, at: string, e: JobRunEvent): JobRunEvent {
    entry.runs[e.result]++;
    // 0.1 ms is plenty for a person; the event keeps the exact figure.
    entry.last = { at, result: e.result, durationMs: Math.round(e.durationMs * 10) / 10, ...(e.error !== undefined ? { error: e.error } : {}) };
    if (e.result === 'failed') entry.lastError = { at, message: e.error ?? 'failed' };
    this.emit('run', e);
    return e;
  }
}
