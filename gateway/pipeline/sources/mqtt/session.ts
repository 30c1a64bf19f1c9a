// The filters an MQTT source has subscribed to in the broker's persistent session, remembered in
// the store (the source's own meta key, written in a group commit), so that a filter removed from
// the configuration is unsubscribed at the next connection. The broker keeps every subscription of
// a session (clean: false, same clientId) until it is unsubscribed: a removed filter would go on
// feeding the session, and while the gateway is down its messages would fill the queue the broker
// keeps for it (mosquitto: max_queued_messages) in place of the commands the gateway waits for.
import type { Intake } from '../../contract.js';

const KEY = 'subscriptions';

interface Record {
  clientId: string;
  filters: string[];
}

/** The filters subscribed under `clientId` by an earlier run (none when the client id changed, or nothing was written). */
export async function readSubscribed(intake: Intake, clientId: string): Promise<string[]> {
  let raw: Buffer | undefined;
  try {
    raw = await intake.readMeta(KEY);
  } catch {
    return [];
  }
  if (!raw) return [];
  try {
    const r = JSON.parse(raw.toString()) as Partial<Record>;
    if (r.clientId !== clientId || !Array.isArray(r.filters)) return [];
    return r.filters.filter((f): f is string => typeof f === 'string');
  } catch {
    return [];
  }
}

/** Remember the filters the session holds now. */
export function writeSubscribed(intake: Intake, clientId: string, filters: readonly string[]): Promise<void> {
  const r: Record = { clientId, filters: [...filters] };
  return intake.commitMeta(KEY, Buffer.from(JSON.stringify(r)));
}
