// stream: append the rule output to a local stream. Durable: the source message's PUBACK waits
// for the append's commit. The record keeps the source topic, receivedAt and MQTT 5 properties.
import { z } from '../../../core/zod.js';
import { ERRORS } from '../../../core/errors.js';
import { parseOptions } from '../../../core/validation.js';
import type { AppendRecord } from '../../store/types.js';
import { propertiesToAttrs } from '../../store/mqtt5-attrs.js';
import { evalContextOf, type Action, type ActionFactory, type CompiledTemplate } from '../../../rules/index.js';

export interface StreamAppender {
  append(stream: string, rec: AppendRecord): Promise<number>;
  /** Optional: lets validate() refuse a rule set naming an undefined stream. */
  hasStream?(name: string): boolean;
}

export const streamOptionsSchema = z.strictObject({
  name: z.string().min(1).describe('Local stream to append to'),
  partitionKey: z.string().optional().describe('Partition key template, e.g. ${topic(2)} (per-device ordering upstream)'),
});

export function streamAction(appender: StreamAppender): ActionFactory {
  return (options, tools) => {
    const o = parseOptions(streamOptionsSchema, options);
    const key = o.partitionKey !== undefined ? (tools.compileTemplate(o.partitionKey) as CompiledTemplate) : undefined;
    const check = (): void => {
      if (appender.hasStream && !appender.hasStream(o.name)) throw ERRORS.GH_STREAM_UNKNOWN({ stream: o.name });
    };
    const action: Action = {
      kind: 'stream',
      resource: o.name,
      durable: true,
      execute(output, ctx) {
        const rec: AppendRecord = { topic: ctx.message.topic, payload: output, receivedAt: ctx.message.receivedAt };
        if (key) rec.key = key.renderWith(evalContextOf(ctx));
        // MQTT 5 properties travel with the record (attrs `mqtt5.*`, see store/mqtt5-attrs.ts)
        if (ctx.message.properties) {
          const attrs = propertiesToAttrs(ctx.message.properties);
          if (attrs) rec.attrs = attrs;
        }
        return appender.append(o.name, rec).then(() => undefined);
      },
      validate: check,
      check,
    };
    return action;
  };
}
