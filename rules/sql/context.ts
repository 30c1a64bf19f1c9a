// Per-message evaluation context: created once per message and shared by every rule the message
// meets, so the payload is parsed as JSON at most once (lazily: a rule that never touches fields,
// like the archive rule `SELECT * FROM '#'`, never parses it).
import { randomUUID } from 'node:crypto';
import type { Message } from '../../core/message.js';
import type { ActionContext } from '../types.js';
import { mayHoldWholeDecimal, parseJsonKeepingDecimals } from './json-decimal.js';

const UNPARSED = 0;
const JSON_OK = 1;
const NOT_JSON = 2;
const UNSET: unique symbol = Symbol('unset');

export class EvalContext {
  /** Current row for field references inside a nested SELECT (set/restored by the compiler). */
  cur: unknown = undefined;
  private state = UNPARSED;
  private json: unknown = undefined;
  /** The payload as 2015-10-08 reads it (10.0 a Decimal); UNSET until a V1 rule asks. */
  private jsonV1: unknown = UNSET;
  private levels: string[] | undefined;

  constructor(readonly message: Message) {}

  /** The payload parsed as JSON, or undefined when it is not JSON. Parsed once. */
  root(): unknown {
    if (this.state === UNPARSED) this.parse();
    return this.json;
  }

  /**
   * The payload as a 2015-10-08 rule reads it: like root(), except that a number written as a
   * whole Decimal (10.0, 1e3) stays a Decimal. Parsed once, and only when such a number may be
   * there; otherwise it is root() itself.
   */
  rootV1(): unknown {
    if (this.jsonV1 !== UNSET) return this.jsonV1;
    const plain = this.root();
    let v1 = plain;
    if (this.state === JSON_OK) {
      // Decoded again rather than kept from root(): 2016-03-23 rules (the default) hold no copy.
      const text = this.message.payload.toString('utf8');
      if (mayHoldWholeDecimal(text)) {
        try {
          v1 = parseJsonKeepingDecimals(text);
        } catch {
          // Deeper nesting than the recursive parser's stack: read the numbers as 2016-03-23 does.
          v1 = plain;
        }
      }
    }
    this.jsonV1 = v1;
    return v1;
  }

  /** True when the payload is not valid JSON (binary payload). */
  isNonJson(): boolean {
    if (this.state === UNPARSED) this.parse();
    return this.state === NOT_JSON;
  }

  private parse(): void {
    const p = this.message.payload;
    // Cheap pre-check on the first non-blank byte avoids throwing (slow) on obvious binary data.
    let i = 0;
    while (i < p.length && (p[i] === 32 || p[i] === 9 || p[i] === 10 || p[i] === 13)) i++;
    const c = p[i];
    const plausible =
      c !== undefined && (c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e);
    if (plausible) {
      try {
        this.json = JSON.parse(p.toString('utf8'));
        this.state = JSON_OK;
        return;
      } catch {
        // fall through: not JSON
      }
    }
    this.json = undefined;
    this.state = NOT_JSON;
  }

  /** Topic levels, split once per message (topic(n)). */
  topicLevels(): string[] {
    if (!this.levels) this.levels = this.message.topic.split('/');
    return this.levels;
  }
}

/**
 * The trace id of a message (traceid(), the error action's traceId): the one its source gave it
 * (serial: link:seq), else, for a message that came over MQTT, a UUID given on first use and kept
 * on the message, so every rule, template and error action of that message sees the same id (AWS
 * IoT gives every MQTT message one). Undefined for other sources, as on AWS.
 */
export function messageTraceId(m: Message): string | undefined {
  if (m.traceId === undefined && m.source.kind === 'mqtt') m.traceId = randomUUID();
  return m.traceId;
}

/** The ActionContext handed to actions of one rule for one message (templates evaluate through it). */
export class RuleActionContext implements ActionContext {
  constructor(
    readonly message: Message,
    readonly ruleName: string,
    readonly evalContext: EvalContext,
  ) {}

  get payloadJson(): unknown {
    return this.evalContext.root();
  }
}

/** The EvalContext behind an ActionContext (or a fresh one for contexts built elsewhere). */
export function evalContextOf(ctx: ActionContext): EvalContext {
  return ctx instanceof RuleActionContext ? ctx.evalContext : new EvalContext(ctx.message);
}
