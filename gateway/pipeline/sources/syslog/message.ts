// A parsed syslog message as the gateway's Message: a JSON payload of its fields and where it came
// from, on a topic rendered from the source's template with sanitised values.
import type { Message } from '../../../../core/message.js';
import type { SyslogRecord } from './parse.js';
import type { Transport } from './metrics.js';

export interface Sender {
  address: string;
  port: number;
  transport: Transport;
}

/** A value as one topic level: never empty ('-', the NILVALUE), never a separator or a wildcard. */
export function topicLevel(v: string | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is not allowed in an MQTT topic
  return v.replace(/[/+#\u0000]/g, '_');
}

export function topicVars(r: SyslogRecord, from: Sender, source: string): Record<string, string> {
  return {
    // no hostname (busybox, a message kept whole): the sender's address names it, as a relay would (RFC 3164 4.3.2)
    hostname: topicLevel(r.hostname ?? from.address),
    appName: topicLevel(r.appName),
    procId: topicLevel(r.procId),
    msgId: topicLevel(r.msgId),
    facility: r.facilityName,
    severity: r.severityName,
    format: r.format,
    transport: from.transport,
    source,
  };
}

export function syslogMessage(r: SyslogRecord, from: Sender, topic: string, source: string, receivedAt: number, truncated: boolean): Message {
  const payload = { ...r, sender: from.address, senderPort: from.port, transport: from.transport, ...(truncated ? { truncated: true } : {}) };
  return {
    topic,
    payload: Buffer.from(JSON.stringify(payload)),
    // a datagram has no acknowledgement; a stream message is committed before more is read past maxInFlight
    qos: from.transport === 'udp' ? 0 : 1,
    source: { kind: 'syslog', id: source, ...(from.address ? { ip: from.address } : {}) },
    receivedAt,
    properties: { contentType: 'application/json' },
  };
}
