// What the power-cut test of the MQTT source (test/e2e/power-cut.test.ts) reads: which messages
// mosquitto got a PUBACK for from the gateway's first connection (its debug log), which are on the
// disk a cut left (the store opened on the copy), and the source's own counts (the admin API).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { GatewayProcess } from './gateway-process.js';
import { testDeps } from './index.js';

/** mosquitto.conf lines (startMosquitto's extraConfig) that log every connection and packet (message id, topic) to `file`. */
export function mosquittoPacketLog(file: string): string[] {
  // all: the packets are logged at debug, the connections at notice.
  return [`log_dest file ${file}`, 'log_type all'];
}

/**
 * The ids of the messages mosquitto got a PUBACK for on the first connection of `clientId`, read
 * from its log (mosquittoPacketLog), once that connection has ended (a second one is in the log;
 * undefined before): each message is published on `<prefix><id>`, so its PUBLISH line ("Sending
 * PUBLISH to <clientId> (d0, q1, r0, m<mid>, '<prefix><id>', ...") maps the message id of a PUBACK
 * ("Received PUBACK from <clientId> (Mid: <mid>, ...") to the id. A process stopped by a cut sends
 * nothing more: every PUBACK of that connection was sent before the cut.
 */
export async function ackedOnFirstConnection(logFile: string, clientId: string, prefix: string): Promise<Set<number> | undefined> {
  const text = await readFile(logFile, 'utf8');
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const connected = new RegExp(`New client connected from \\S+ as ${esc(clientId)} \\(`);
  const sent = new RegExp(`Sending PUBLISH to ${esc(clientId)} \\(d\\d, q1, r\\d, m(\\d+), '${esc(prefix)}(\\d+)'`);
  const acked = new RegExp(`Received PUBACK from ${esc(clientId)} \\(Mid: (\\d+)`);
  const idOfMid = new Map<number, number>();
  const ids = new Set<number>();
  let connections = 0;
  for (const line of text.split('\n')) {
    if (connected.test(line) && ++connections > 1) return ids;
    const s = sent.exec(line);
    if (s) {
      idOfMid.set(Number(s[1]), Number(s[2]));
      continue;
    }
    const a = acked.exec(line);
    if (a) {
      const id = idOfMid.get(Number(a[1]));
      if (id === undefined) throw new Error(`mosquitto's log: a PUBACK for message id ${a[1]}, never sent to ${clientId}`);
      ids.add(id);
    }
  }
  return undefined;
}

/** The `id` of every record of `stream` in the store under dataDir (a disk after a cut, no gateway on it). */
export async function idsInStream(dataDir: string, stream: string): Promise<Set<number>> {
  const ids = new Set<number>();
  const streams = await openLocalStreams({ path: join(dataDir, 'store') }, testDeps());
  try {
    await streams.defineStream({ name: stream, maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
    for (let from = 1; ; ) {
      const recs = await streams.read(stream, from, { limit: 1000 });
      if (recs.length === 0) break;
      for (const r of recs) ids.add((JSON.parse(r.payload.toString('utf8')) as { id: number }).id);
      from = recs[recs.length - 1]!.seq + 1;
    }
  } finally {
    await streams.close();
  }
  return ids;
}

/** An MQTT source's counts (/api/sources): messages received, and received and committed (for QoS 1: PUBACKed). */
export async function sourceCounts(gw: GatewayProcess, name: string): Promise<{ received: number; acknowledged: number }> {
  const res = await fetch(`${gw.adminUrl}/api/sources`, { signal: AbortSignal.timeout(2_000) });
  const body = (await res.json()) as { sources: Array<{ name: string; details: { received: number; acknowledged: number } }> };
  const s = body.sources.find((x) => x.name === name);
  if (!s) throw new Error(`no source ${name} in /api/sources`);
  return { received: s.details.received, acknowledged: s.details.acknowledged };
}
