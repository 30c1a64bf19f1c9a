// A graceful stop's end of the MQTT 3.1.1 clients (index.ts stop): each closed with its will routed.
// aedes publishes a client's will as it closes the client (lib/client.js close: authorizePublish,
// i.e. the gateway's commit of the will, then publish), but close() calls back at once, without
// waiting for either, and aedes.close() then closes its message bus. A will whose commit took any
// time (the store's group commit: a few ms) was committed, then reached no subscriber, and missed
// the final snapshot of the MQTT 5 sessions: an offline session subscribed to its topic never got
// it (docs/broker.md, State files). So the stop closes the clients here first, waits until their
// wills are answered (inflight.ts willsAnswered), then until the publishes aedes started meanwhile
// (the wills, and what the rules republished from them) are routed, and only then closes aedes.
// The wait is bounded (WILLS_WAIT_MS): a will queued behind the client's appends that wait for
// space in a full stream is answered only once the stop refuses those (after the broker's stop),
// and must not hold the stop meanwhile; such a will then goes as before (to no MQTT 5 session).
import type { Aedes, PublishPacket } from 'aedes';
import type { CommitWindow } from './inflight.js';

/** How long the stop waits for the wills of the clients it closes (committed and routed). */
export const WILLS_WAIT_MS = 2000;

type Done = (err?: Error) => void;
/** aedes' publish as it is called internally (its types name only the (packet, done) form). */
type AedesPublish = (packet: PublishPacket, client?: unknown, done?: Done) => void;

export async function closeClientsWithWills(aedes: Aedes, commit: Pick<CommitWindow, 'willsAnswered'>, waitMs = WILLS_WAIT_MS): Promise<void> {
  const clients = Object.values((aedes as unknown as { clients: Record<string, { close(done: () => void): void }> }).clients);
  if (clients.length === 0) return;
  const target = aedes as unknown as { publish: AedesPublish };
  const publish = target.publish;
  let routing = 0;
  let idle: (() => void) | undefined;
  const counted =
    (done: Done | undefined): Done =>
    (err) => {
      routing--;
      if (routing === 0) idle?.();
      done?.(err);
    };
  // count the publishes started from here on (an own property over the prototype's method, for the stop only)
  const own = Object.hasOwn(aedes, 'publish');
  target.publish = (packet, client, done) => {
    routing++;
    if (typeof client === 'function') return publish.call(aedes, packet, counted(client as Done));
    return publish.call(aedes, packet, client, counted(done));
  };
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMs);
  });
  const wills = (async () => {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(resolve))));
    await commit.willsAnswered();
    if (routing > 0) await new Promise<void>((resolve) => (idle = resolve));
  })();
  try {
    await Promise.race([wills, bound]);
  } finally {
    clearTimeout(timer);
    if (own) target.publish = publish;
    else delete (target as { publish?: AedesPublish }).publish;
  }
}
