// Running one AWS IoT SQL statement through the real compiler and evaluator, on one message: what the
// table-driven SQL tests need (no engine, broker or actions).
import { compileSql, evaluateQuery } from '../../rules/sql/compiler.js';
import { EvalContext } from '../../rules/sql/context.js';
import type { Message } from '../../core/message.js';
import type { SqlVersion } from '../../rules/types.js';

/** A message from MQTT client dev-1 (user alice, 10.0.0.7), received at 1_700_000_000_123. */
export function sqlMessage(payload: string | Buffer, topic = 'a/b', extra: Partial<Message> = {}): Message {
  return {
    topic,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    qos: 0,
    source: { kind: 'mqtt', id: 'dev-1', ip: '10.0.0.7', principal: 'alice' },
    receivedAt: 1_700_000_000_123,
    traceId: 'trace-1',
    ...extra,
  };
}

export interface SqlRunOptions {
  topic?: string;
  v?: SqlVersion;
  extra?: Partial<Message>;
}

/** The output's text, or undefined when the statement produced none. Throws what the compiler throws. */
export function runSql(sql: string, payload: string | Buffer = '{}', opts: SqlRunOptions = {}): string | undefined {
  const q = compileSql(sql, { sqlVersion: opts.v });
  return evaluateQuery(q, new EvalContext(sqlMessage(payload, opts.topic, opts.extra)))?.toString('utf8');
}

/**
 * The text of `expr` as the output writes it (`SELECT expr AS r`, so 2015-10-08 can show arrays and
 * whole Decimals as `2.0`), or 'Undefined' when the item is left out of the output.
 */
export function sqlItem(expr: string, payload = '{}', opts: SqlRunOptions = {}): string {
  const out = runSql(`SELECT ${expr} AS r FROM '${opts.topic ?? 'a/b'}'`, payload, opts);
  if (out === '{}') return 'Undefined';
  if (out === undefined || !out.startsWith('{"r":') || !out.endsWith('}')) throw new Error(`unexpected output ${out} for ${expr}`);
  return out.slice(5, -1);
}
