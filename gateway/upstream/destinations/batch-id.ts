// The id of a webhook batch (its Idempotency-Key), made from what the batch holds: the gateway's
// installation id, the stream, the first and last record's seq and receive time, and the count.
//
// Why not a random id kept while the batch is retried (round 37): it lived in memory, so after a
// restart (a crash, a power cut) the records past the exporter's checkpoint went again under new
// ids, and a receiver keeping ids could not drop them: the chaos bench counted 3,500 such records
// in a 6-minute run. Made from the records, a batch sent again after a restart carries the same id
// whenever it holds the same records, which it does when the backlog fills it (the exporter reads
// from its checkpoint with the same limits). Why the receive times: a stream deleted and defined
// again numbers its records from 1 again, and its first batch must not be taken for the old one
// (a receiver would drop it as a duplicate: data lost). Why the installation id: two gateways'
// streams of one name and numbering must not collide at one receiver.
import { createHash, randomUUID } from 'node:crypto';

interface BatchRecord {
  stream: string;
  seq: number;
  receivedAt: number;
}

/** A UUID (version 8, RFC 9562: custom) from the first 16 bytes of a SHA-256. */
function uuidOf(text: string): string {
  const b = createHash('sha256').update(text).digest();
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The batch-id function of one destination. Without an installation id (none given, or it cannot be
 * kept: an unwritable data folder), each batch gets a random id kept while it is retried, as before:
 * the id is a receiver's aid, never a reason to hold the data.
 */
export function batchIds(installationId: (() => Promise<string>) | undefined): (records: readonly BatchRecord[]) => Promise<string> {
  let pending: { key: string; id: string } | undefined;
  return async (records) => {
    const first = records[0]!;
    const last = records[records.length - 1]!;
    const key = `${first.stream}\n${first.seq}\n${first.receivedAt}\n${last.seq}\n${last.receivedAt}\n${records.length}`;
    let installation: string | undefined;
    try {
      installation = await installationId?.();
    } catch {
      installation = undefined;
    }
    if (installation !== undefined) return uuidOf(`gatehouse batch\n${installation}\n${key}`);
    if (pending?.key !== key) pending = { key, id: randomUUID() };
    return pending.id;
  };
}
