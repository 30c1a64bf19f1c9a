// One error type for the whole runtime, with stable codes (documented in docs/errors.md).
// A code never changes meaning once released; add new ones at the end of their group.

export const ERROR_CODES = {
  // configuration
  GH_CONFIG_INVALID: 'The configuration file failed validation',
  GH_CONFIG_READ: 'The configuration file could not be read or parsed',
  GH_CONFIG_INSECURE: 'The configuration would expose the gateway beyond loopback without authentication',
  GH_ARG_INVALID: 'A command-line argument is missing or malformed',
  // broker
  GH_BROKER_LISTEN: 'A broker listener could not bind its address',
  GH_BROKER_TLS: 'TLS certificate or key files could not be loaded',
  GH_AUTH_FAILED: 'A client presented a wrong user name or password',
  GH_ACL_DENIED: 'A client tried to publish or subscribe outside its ACL',
  GH_PAYLOAD_TOO_LARGE: 'A publish exceeded the configured maximum payload size',
  GH_TOO_MANY_CLIENTS: 'The broker reached its configured connection limit',
  // store
  GH_STORE_OPEN: 'The local stream store could not be opened',
  GH_STORE_CLOSED: 'The store was used after close()',
  GH_STREAM_UNKNOWN: 'A local stream name is not configured',
  GH_STREAM_FULL: 'A local stream reached maxBytes under onFull: reject',
  GH_RECORD_TOO_LARGE: 'A single record is larger than its stream can ever hold',
  GH_STORE_CORRUPT: 'Data read from the store did not decode',
  GH_STORE_DISK_FULL: 'The store refused a data append: the disk is full (free space under store.reserveBytes) or a write failed',
  // rules
  GH_SQL_SYNTAX: 'A rule SQL statement could not be parsed',
  GH_SQL_SEMANTIC: 'A rule SQL statement parsed but is not valid (unknown function, wrong arity, ...)',
  GH_RULESET_INVALID: 'A rule set failed validation',
  GH_RULESET_STALE: 'A rule set update has an older version than the active one',
  GH_RULESET_SIGNATURE: 'A signed rule set update failed signature verification',
  GH_ACTION_FAILED: 'A rule action failed',
  GH_TEMPLATE_INVALID: 'A ${...} substitution template is malformed',
  GH_DETECTOR_PARAM: 'An anomaly detector name or parameter is unknown or out of range',
  // upstream
  GH_EXPORT_RETRYABLE: 'A destination rejected a record with a retryable error',
  GH_EXPORT_PERMANENT: 'A destination rejected a record permanently',
  GH_DESTINATION_CONFIG: 'A destination is misconfigured',
  // serial
  GH_SERIAL_OPEN: 'A serial port could not be opened',
  GH_FRAME_INVALID: 'A serial frame failed to decode (CRC, length, delimiter)',
  GH_CODEC_INVALID: 'A frame decoded but its payload did not match the codec',
  GH_SERIAL_NOT_OPEN: 'A write was attempted on a serial link that is not open (closed or retrying)',
  GH_SERIAL_QUEUE_FULL: 'A serial link write queue is full (the device reads slower than commands arrive)',
  GH_SERIAL_LINK_UNKNOWN: 'A serial link name is not configured',
  // admin / control
  GH_ADMIN_BAD_REQUEST: 'An admin API request was malformed',
  GH_ADMIN_UNAUTHORIZED: 'An admin API request lacked a valid token',
  GH_ADMIN_NOT_FOUND: 'An admin API resource does not exist',
  GH_ADMIN_TOO_LARGE: 'An admin API request body was too large',
  GH_ADMIN_LISTEN: 'The admin API could not bind its address',
  GH_CONTROL_CHANNEL: 'The MQTT control channel is not connected or a control message was refused',
  GH_JOB_FAILED: 'A scheduled job failed (it runs again at its next time)',
  GH_ADMIN_FORBIDDEN: 'An admin API request was refused: unknown Host header (DNS rebinding) or a cross-origin state change (CSRF)',
  GH_INTERNAL: 'An unexpected internal error (a bug: please report it)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GatehouseErrorOptions {
  /** How to fix it, in one sentence. */
  hint?: string;
  /** Where: a config key path, a line:column, a topic, a stream name... */
  where?: string;
  /** Structured details (e.g. every validation issue). */
  details?: unknown;
  cause?: unknown;
}

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly where: string | undefined;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: GatehouseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.hint = options.hint;
    this.where = options.where;
    this.details = options.details;
  }

  /** One human line: "GH_X: message (at where). Fix: hint". */
  describe(): string {
    let s = `${this.code}: ${this.message}`;
    if (this.where) s += ` (at ${this.where})`;
    if (this.hint) s += `. Fix: ${this.hint}`;
    return s;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, where: this.where, hint: this.hint, details: this.details };
  }
}

export function isGatehouseError(err: unknown, code?: ErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}

/** Message of any thrown value, for logs and status fields. */
export function errorMessage(err: unknown): string {
  if (err instanceof GatehouseError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
