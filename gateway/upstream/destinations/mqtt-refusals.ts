// What the MQTT bridge destination makes of a PUBLISH the broker refused with an MQTT 5 PUBACK
// reason code (mosquitto's ACL: 0x87 Not authorized; a quota: 0x97): the record's result with a
// code from a small fixed set (the code label of gatehouse_destination_record_failures_total) and
// an error naming the topic, the broker's reason and what to change.
import type { RecordResult } from '../types.js';
import { shortError } from './common.js';

/** The record codes of a refused PUBLISH (and of one that failed without a reason code). */
export type PublishFailureCode = 'NOT_AUTHORIZED' | 'THROTTLED' | 'TOO_LARGE' | 'TOPIC_INVALID' | 'REFUSED' | 'PUBLISH_FAILED';

/** Who the broker's ACL sees: the destination's clientId and username. */
export interface BridgeIdentity {
  clientId: string;
  username?: string | undefined;
}

const hex = (code: number): string => `0x${code.toString(16).padStart(2, '0')}`;

/**
 * The result of a publish that failed with `err` (mqtt.js: an ErrorWithReasonCode whose `code` is
 * the PUBACK reason code). Retryable unless resending cannot help (0x95 Packet too large): an ACL
 * that refuses the topic holds the records in the stream until it is fixed, as a 403 does. The ACL
 * and the topic rules are the setup (`setup`): while they refuse every record, the loop retries at
 * the normal pace, not the outage's.
 */
export function publishFailure(err: Error, topic: string, who: BridgeIdentity): RecordResult & { ok: false; code: PublishFailureCode } {
  const rc = (err as { code?: unknown }).code;
  if (typeof rc !== 'number') return { ok: false, retryable: true, error: shortError(err), code: 'PUBLISH_FAILED' };
  const said = `the broker refused the PUBLISH to '${topic}': ${err.message.replace(/^Publish error: /, '')} (PUBACK reason ${hex(rc)})`;
  const user = who.username === undefined ? '' : ` (username '${who.username}')`;
  switch (rc) {
    case 0x87:
      return {
        ok: false,
        retryable: true,
        error: `${said}: its ACL does not let client '${who.clientId}'${user} publish there; allow the topic on the broker (mosquitto acl_file, an AWS IoT policy's iot:Publish) or map it elsewhere (the destination's topics)`,
        code: 'NOT_AUTHORIZED',
        setup: true,
      };
    case 0x97:
      return {
        ok: false,
        retryable: true,
        error: `${said}: a quota of the broker; the records wait in the stream and are sent again more slowly`,
        code: 'THROTTLED',
      };
    case 0x95:
      return { ok: false, retryable: false, error: `${said}: set the destination's maxRecordBytes below the broker's limit`, code: 'TOO_LARGE' };
    case 0x90:
      return {
        ok: false,
        retryable: true,
        error: `${said}: check the destination's topics mapping (remotePrefix) for the broker's topic rules`,
        code: 'TOPIC_INVALID',
        setup: true,
      };
    default:
      return { ok: false, retryable: true, error: `${said}: see the broker's log for why`, code: 'REFUSED' };
  }
}
