// The chaos bench's control-plane leg (test/bench/chaos.ts): changes made to the running gateway
// while data flows, none of which may lose or refuse anything the data legs send.
// - SIGHUP with the config file as it was (the reload applies nothing), or edited in a harmless
//   way (the exporter's batch size, the disk probe's period: settings that take effect at the
//   next start, which the next kill -9 brings);
// - PUT /api/rules (docs/remote-control.md) with the next version of an equivalent rule set: every
//   message still routed once into the exported stream `archive`, written differently (the rule
//   renamed, its SQL reformatted, or split in two rules by topic). With an upstream URL (chaos
//   --actions), as many more sets route through an `http` rule action to that upstream instead, at
//   a URL that changes with the version (`?v=N`): each update moves the flow to another local
//   stream, and the one left behind must still be exported (its exporter retires once drained).
// A refused or failed change is a finding (what the gateway logs about it is watched by Gateway).
import { writeFile } from 'node:fs/promises';
import type { Finding, Gateway } from './chaos-gateway.js';
import { elapsed } from './chaos-gateway.js';

interface RuleDef {
  name: string;
  sql: string;
  actions: Array<{ stream: { name: string } } | Record<string, unknown>>;
}

const toArchive = (name: string, sql: string): RuleDef => ({ name, sql, actions: [{ stream: { name: 'archive' } }] });

/** Equivalent rule sets: every message into `archive` exactly once. */
const EQUIVALENT_SETS: Array<(n: number) => RuleDef[]> = [
  (n) => [toArchive(`all_${n}`, "SELECT * FROM '#'")],
  (n) => [toArchive(`everything_${n}`, "SELECT *\n  FROM '#'\n  WHERE TRUE")],
  (n) => [toArchive(`devices_${n}`, "SELECT * FROM 'chaos/#'"), toArchive(`rest_${n}`, "SELECT * FROM '#' WHERE startswith(topic(), 'chaos/') = FALSE")],
];

/** Every message through an upstream rule action: its own local stream per version (`action(n)`). */
const viaAction = (action: (n: number) => Record<string, unknown>): Array<(n: number) => RuleDef[]> => [
  (n) => [{ name: `via_action_${n}`, sql: "SELECT * FROM '#'", actions: [action(n)] }],
  (n) => [
    { name: `devices_action_${n}`, sql: "SELECT * FROM 'chaos/#'", actions: [action(n)] },
    toArchive(`rest_${n}`, "SELECT * FROM '#' WHERE startswith(topic(), 'chaos/') = FALSE"),
  ],
];

export class ControlChanges {
  sighups = 0;
  sighupsEdited = 0;
  ruleUpdates = 0;
  private edits = 0;

  constructor(
    private readonly configFile: string,
    /** The config as written (edited in place here, and written again). */
    private readonly config: { store: { diskProbeMs: number }; exporters: Array<{ batch: { maxRecords: number } }> },
    private readonly findings: Finding[],
    private readonly t0: number,
    /** A rule action to the upstream, a new local stream per version: rule sets through it as well (chaos --actions). */
    action?: (n: number) => Record<string, unknown>,
  ) {
    this.sets = action ? [...EQUIVALENT_SETS, ...viaAction(action), ...viaAction(action)] : EQUIVALENT_SETS;
  }

  private readonly sets: Array<(n: number) => RuleDef[]>;
  /** The running set routes through an upstream action (--actions). */
  private usesAction = false;
  /** The last rule update replaced a set that routed through an action: its stream was left behind. */
  leftAction = false;

  /** One change of the kind `r` in [0, 1) picks; resolves with what it did. Needs a running gateway. */
  async change(g: Gateway, r: number): Promise<string> {
    const gw = g.gw;
    if (!gw) return 'skipped: the gateway is not running';
    if (r < 0.5) {
      const edit = r >= 0.25;
      if (edit) {
        this.edits++;
        this.config.exporters[0]!.batch.maxRecords = this.edits % 2 === 1 ? 400 : 500;
        this.config.store.diskProbeMs = this.edits % 2 === 1 ? 250 : 200;
        await writeFile(this.configFile, JSON.stringify(this.config, null, 2));
        this.sighupsEdited++;
      }
      gw.proc.kill('SIGHUP');
      this.sighups++;
      return edit
        ? `SIGHUP, config edited (exporter batch ${this.config.exporters[0]!.batch.maxRecords}, disk probe ${this.config.store.diskProbeMs} ms)`
        : 'SIGHUP, config unchanged';
    }
    try {
      const current = await g.get('/api/rules');
      const version = ((current.body as { activeVersion?: number | null }).activeVersion ?? 0) + 1;
      const pick = Math.floor(((r - 0.5) / 0.5) * this.sets.length);
      const rules = this.sets[Math.min(pick, this.sets.length - 1)]!(version);
      const res = await fetch(`${g.adminUrl}/api/rules`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ version, rules }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json()) as { state?: string };
      this.ruleUpdates++;
      if (res.status === 200 && body.state === 'applied') {
        this.leftAction = this.usesAction;
        // Any action but a `stream` one is an upstream action (http, nats, ... as --upstream gives).
        this.usesAction = rules.some((x) => x.actions.some((a) => !('stream' in a)));
      }
      const what = `PUT /api/rules version ${version} (${rules.map((x) => x.name).join(', ')}): ${res.status} ${body.state ?? ''}`;
      if (res.status !== 200 || body.state !== 'applied') {
        // A gateway killed during the request is not the gateway's fault: only a live one's answer counts.
        if (g.gw === gw) this.findings.push({ at: elapsed(this.t0), what: `rule update refused: ${what}`, detail: JSON.stringify(body).slice(0, 2000) });
      }
      return what;
    } catch (err) {
      if (g.gw === gw) this.findings.push({ at: elapsed(this.t0), what: 'rule update failed', detail: String(err) });
      return `PUT /api/rules failed: ${String(err)}`;
    }
  }
}
