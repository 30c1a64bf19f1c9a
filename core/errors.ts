// One error type for the whole runtime, with stable codes: GatehouseError, built from the
// catalogue (error-catalogue.ts), where each code owns its meaning, message template and default
// hint: `ERRORS.GH_STREAM_FULL({ stream, held, maxBytes, pending, reason })` or
// `createError('GH_STREAM_FULL', params)`. The catalogue is re-exported here, so callers import
// errors from one place.
import { ERROR_CATALOGUE, type ErrorSpec } from './error-catalogue.js';

export { ERROR_CATALOGUE, type ErrorSpec } from './error-catalogue.js';

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Code -> one-line meaning (the catalogue's `meaning`, kept for existing callers). */
export const ERROR_CODES = Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([code, spec]) => [code, spec.meaning])) as {
  readonly [C in ErrorCode]: (typeof ERROR_CATALOGUE)[C]['meaning'];
};

/** `{a} and {b}` -> 'a' | 'b'. */
type ParamNames<S extends string> = S extends `${string}{${infer P}}${infer Rest}` ? P | ParamNames<Rest> : never;
export type ErrorParams<C extends ErrorCode> = { readonly [K in ParamNames<(typeof ERROR_CATALOGUE)[C]['message']>]: string | number | bigint | boolean };

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

  /** One human line: "<code>: message (at where). Fix: hint". */
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

/** Fill a catalogue message template; a missing parameter stays visible as {name}. */
export function formatErrorMessage(template: string, params: Readonly<Record<string, unknown>>): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (all, name: string) => (params[name] === undefined ? all : String(params[name])));
}

/** Build the catalogue error of `code`: its message template filled from params, its default hint unless overridden. */
export function createError<C extends ErrorCode>(code: C, params: ErrorParams<C>, options: GatehouseErrorOptions = {}): GatehouseError {
  const spec: ErrorSpec = ERROR_CATALOGUE[code];
  return new GatehouseError(code, formatErrorMessage(spec.message, params), { ...options, hint: options.hint ?? spec.hint });
}

/** One constructor per code: `ERRORS.GH_STREAM_UNKNOWN({ stream: 'x' })`. */
export const ERRORS = Object.fromEntries(
  Object.keys(ERROR_CATALOGUE).map((code) => [
    code,
    (params: Record<string, unknown>, options?: GatehouseErrorOptions) => createError(code as ErrorCode, params as never, options),
  ]),
) as unknown as { readonly [C in ErrorCode]: (params: ErrorParams<C>, options?: GatehouseErrorOptions) => GatehouseError };

export function isGatehouseError(err: unknown, code?: ErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}

/**
 * Why a file could not be read, without its path (the message around it names the file): Node's
 * `ENOENT: no such file or directory, open '/x'` -> `ENOENT (no such file or directory)`.
 */
export function fileErrorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const m = typeof e?.message === 'string' ? /^([A-Z][A-Z0-9_]+): ([^,]+)/.exec(e.message) : null;
  if (m) return `${m[1]} (${m[2]})`;
  return e?.code ?? (err instanceof Error ? err.message : String(err));
}

/** Message of any thrown value, for logs and status fields. */
export function errorMessage(err: unknown): string {
  if (err instanceof GatehouseError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
