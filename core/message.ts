// The one message shape on the data path: sources (broker, serial, internal) produce it,
// the rules engine consumes it. JSON is parsed lazily by the rules engine, once, only when a
// rule needs payload fields, so the payload stays a Buffer here.

export type SourceKind = 'mqtt' | 'serial' | 'file' | 'modbus' | 'opcua' | 'http' | 'syslog' | 'snmp' | 'sparkplug' | 'internal';

export interface MessageSource {
  kind: SourceKind;
  /** MQTT client id, serial link name, file path, http source name, or rule name for internal republishes. */
  id: string;
  /** Remote address of an MQTT, HTTP or syslog client (sourceip()). */
  ip?: string;
  /** Authenticated user name, or an http source's credential name (principal()). */
  principal?: string;
}

/** MQTT 5 properties that rules can read (get_mqtt_property, get_user_properties). */
export interface MessageProperties {
  contentType?: string;
  payloadFormatIndicator?: boolean;
  responseTopic?: string;
  correlationData?: Buffer;
  messageExpiryInterval?: number;
  userProperties?: Record<string, string | string[]>;
}

export interface Message {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain?: boolean;
  source: MessageSource;
  /** Epoch milliseconds when the gateway received it. */
  receivedAt: number;
  properties?: MessageProperties;
  /** Republish depth: internal messages derived from other messages carry depth + 1 (loop guard). */
  hops?: number;
  /** Serial acknowledged mode / tracing id. */
  traceId?: string;
}

/**
 * A meta value for commitMeta: the bytes, or a function that makes them when the group commit
 * holding the put is cut (at most once, and not at all when a newer put of the same key replaced
 * it first). A function must describe only what was submitted before the put, so every change to
 * what it describes must be followed by a new put of the key (the file source's state of
 * thousands of files, made once per commit instead of once per chunk read).
 *
 * A function may make several keys at once (MetaEntries): each entry's name is appended to the
 * put's key ('' is the key itself) and a null value deletes that key, all in the same batch (the
 * file source writes only the files whose state changed since the last commit, a key each).
 */
export type MetaValue = Buffer | (() => Buffer | MetaEntries);

/** Keys written by one meta put: [name appended to the put's key, bytes or null to delete it]. */
export type MetaEntries = ReadonlyArray<readonly [name: string, value: Buffer | null]>;

/** The bytes of a meta value of one key (calls a function value). */
export function metaBytes(value: MetaValue): Buffer {
  const v = typeof value === 'function' ? value() : value;
  if (!Buffer.isBuffer(v)) throw new Error('a meta value of several keys (MetaEntries) needs metaEntries');
  return v;
}

/** The keys a meta value writes (calls a function value): a single value is the put's own key. */
export function metaEntries(value: MetaValue): MetaEntries {
  const v = typeof value === 'function' ? value() : value;
  return Buffer.isBuffer(v) ? [['', v]] : v;
}
