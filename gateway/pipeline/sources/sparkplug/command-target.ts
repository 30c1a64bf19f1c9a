// What a command (commands.ts) writes to: the edge node (NCMD) or device (DCMD) it names, online
// in the host's state (state.ts), and each metric's definition in that node's or device's birth
// (name, alias, datatype). Anything else is refused with GH_WRITE_TARGET_UNKNOWN, naming what the
// source does know (a typo is the likeliest cause, so the nearest name is offered): a node or
// device that is unknown or offline is never written (no stale writes: the value would reach a
// device that may since have been replaced, or wait nowhere, since commands are QoS 0).
import { ERRORS, type GatehouseError } from '../../../../core/errors.js';
import { closestName } from '../../../../core/closest-name.js';
import type { Metrics } from './metric-defs.js';
import type { NodeState } from './state.js';

/** The names a refusal lists at most (a node may have thousands of metrics, a host thousands of nodes). */
const LISTED = 10;

export interface TargetLookup {
  nodesNamed(group: string | undefined, node: string): NodeState[];
  allNodes(): IterableIterator<NodeState>;
}

export interface CommandTarget {
  group: string;
  node: string;
  device: string | undefined;
  /** The definitions of the metrics named, in the command's order: the alias the birth gave, if any. */
  metrics: Array<{ name: string; datatype: number; alias: string | undefined }>;
}

/** A list of names as a message shows it: quoted, at most LISTED, "and N more". */
export function listed(names: readonly string[], none: string): string {
  if (names.length === 0) return none;
  const shown = names.slice(0, LISTED).map((n) => `'${n}'`);
  return names.length > LISTED ? `${shown.join(', ')} and ${names.length - LISTED} more` : shown.join(', ');
}

const didYouMean = (name: string, names: Iterable<string>): string => {
  const near = closestName(name, names);
  return near === undefined ? '' : ` (did you mean '${near}'?)`;
};

function unknown(target: string, reason: string, hint?: string): GatehouseError {
  return ERRORS.GH_WRITE_TARGET_UNKNOWN({ target, reason }, hint === undefined ? {} : { hint });
}

/** What to do about a node or device that is offline: the command is not kept for it. */
const LATER = 'send the command again once its birth has come (gatehouse sources counts the nodes and devices online); this one is not kept';

/** The node, device and metric definitions a command writes to; throws GH_WRITE_TARGET_UNKNOWN. */
export function commandTarget(
  state: TargetLookup,
  cmd: { group: string | undefined; node: string; device: string | undefined; names: readonly string[] },
): CommandTarget {
  const n = theNode(state, cmd.group, cmd.node);
  const nodeName = `edge node '${n.group}/${n.node}'`;
  if (!n.online) {
    const why = n.birthDropped
      ? "its last birth was over the source's maxMessageBytes and was dropped unread (raise maxMessageBytes)"
      : n.offlineAt !== undefined
        ? `it is offline (its NDEATH came at ${new Date(n.offlineAt).toISOString()})`
        : 'no NBIRTH of it has been seen since the source started';
    throw unknown(nodeName, why, LATER);
  }
  let defs: Metrics = n;
  let where = nodeName;
  if (cmd.device !== undefined) {
    const d = n.devices.get(cmd.device);
    where = `device '${cmd.device}' of ${nodeName}`;
    if (!d?.online) {
      const online = [...n.devices].filter(([, x]) => x.online).map(([name]) => name);
      if (d) throw unknown(where, "it is offline (a DDEATH, or no DBIRTH in the node's current session)", LATER);
      throw unknown(where, `the node has no such device${didYouMean(cmd.device, n.devices.keys())}: its devices online are ${listed(online, 'none')}`);
    }
    defs = d;
  }
  // The aliases of the names asked for: one pass over the birth's (the state keeps no name -> alias
  // map: it would cost every metric of every node memory for what only commands need).
  const wanted = new Set(cmd.names);
  const aliasOf = new Map<string, string>();
  for (const [alias, def] of defs.aliases) if (wanted.has(def.name)) aliasOf.set(def.name, alias);
  const metrics: CommandTarget['metrics'] = [];
  for (const name of cmd.names) {
    if (!defs.names.has(name)) {
      const bound = defs.truncated ? '; its birth had more metrics than maxMetricsPerNode holds (raise it)' : '';
      throw unknown(
        `metric '${name}' of ${where}`,
        `its birth has no such metric${didYouMean(name, defs.names.keys())}${bound}: its metrics are ${listed([...defs.names.keys()], 'none')}`,
      );
    }
    const datatype = defs.names.get(name);
    if (datatype === undefined) throw unknown(`metric '${name}' of ${where}`, 'its birth gave it no datatype, so its value cannot be encoded');
    metrics.push({ name, datatype, alias: aliasOf.get(name) });
  }
  return { group: n.group, node: n.node, device: cmd.device, metrics };
}

/** The one node the command means: by group and name, or the one group's node of that name. */
function theNode(state: TargetLookup, group: string | undefined, node: string): NodeState {
  const found = state.nodesNamed(group, node);
  if (found.length === 1) return found[0]!;
  if (found.length > 1)
    throw unknown(
      `edge node '${node}'`,
      `groups ${listed(
        found.map((n) => n.group),
        '',
      )} each have a node of that name: give "group"`,
    );
  const all = [...state.allNodes()];
  const online = all.filter((n) => n.online).map((n) => `${n.group}/${n.node}`);
  const inGroup = group === undefined ? all : all.filter((n) => n.group === group);
  // The node of that name in another group, else the nearest name in the group.
  const elsewhere = group === undefined ? undefined : all.find((n) => n.node === node);
  const near = elsewhere
    ? ` (did you mean '${elsewhere.group}/${elsewhere.node}'?)`
    : didYouMean(
        node,
        inGroup.map((n) => n.node),
      );
  const what = group === undefined ? `edge node '${node}'` : `edge node '${group}/${node}'`;
  throw unknown(what, `the source knows no such node${near}: the nodes online are ${listed(online, 'none')}`);
}
