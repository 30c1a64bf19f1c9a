// republish: publish the rule output to a topic (a ${...} template) through the broker. Non-durable.
// The published message re-enters the rules through the republish source (pipeline/sources/republish.ts).
import { z } from '../../../core/zod.js';
import { ERRORS } from '../../../core/errors.js';
import { parseOptions } from '../../../core/validation.js';
import type { MessageProperties } from '../../../core/message.js';
import { ActionFailedOn, evalContextOf, type Action, type ActionContext, type ActionFactory, type CompiledTemplate } from '../../../rules/index.js';
import { compileHeaders, republishHeadersSchema } from './republish-headers.js';

export interface Publisher {
  publish(p: {
    topic: string;
    payload: Buffer;
    qos: 0 | 1 | 2;
    retain?: boolean;
    hops?: number;
    sourceRule?: string;
    properties?: MessageProperties;
  }): void | Promise<void>;
}

export const republishOptionsSchema = z.strictObject({
  topic: z.string().min(1).describe('Target topic; may use ${...} substitution templates, e.g. alerts/${topic(2)}'),
  qos: z
    .custom<0 | 1>((v) => v === 0 || v === 1, { message: 'qos is 0 or 1 (as in AWS IoT, the republish action publishes at QoS 0 or 1)' })
    .default(0)
    .describe('QoS of the republished message'),
  retain: z.boolean().default(false).describe('Publish with the retain flag'),
  headers: republishHeadersSchema.optional(),
  // AWS IoT's republish action requires a roleArn; a rule copied from AWS keeps it. The gateway
  // publishes on its own broker, so it is accepted and ignored (as by the upstream actions).
  roleArn: z.string().optional().describe('Accepted from AWS IoT rules and ignored: the gateway publishes on its own broker'),
});

/** A topic name a broker may publish (MQTT 3.1.1 and 5, 4.7): not empty, no wildcard or NUL, at most 65,535 bytes. */
function validTopicName(t: string): boolean {
  return t !== '' && !t.includes('+') && !t.includes('#') && !t.includes('\u0000') && Buffer.byteLength(t) <= 65_535;
}

/** Republish depth limit: a rule republishing onto its own FROM filter stops here instead of looping. */
export const MAX_REPUBLISH_HOPS = 8;

export function republishAction(publisher: Publisher): ActionFactory {
  return (options, tools) => {
    const o = parseOptions(republishOptionsSchema, options);
    // AWS IoT: a topic beginning with $ (a reserved one: $aws/things/t1/shadow/update) is written
    // with $$; the rest is the template.
    const lead = o.topic.startsWith('$$') ? '$' : '';
    const body = lead ? o.topic.slice(2) : o.topic;
    const topic = tools.compileTemplate(body) as CompiledTemplate;
    /** The topic when there is no ${...} (a template's text is its source: the scanner has no escapes). */
    const constantTopic = topic.constant ? lead + body : undefined;
    if (topic.constant && /[+#]/.test(o.topic)) {
      throw ERRORS.GH_ACTION_FAILED(
        { action: 'republish', rule: tools.rule, reason: `topic '${o.topic}' contains a wildcard` },
        { hint: 'publish to a concrete topic' },
      );
    }
    const headers = o.headers ? compileHeaders(o.headers, (src) => tools.compileTemplate(src) as CompiledTemplate) : undefined;
    /** Publish the output on topic t (rendered); throws or rejects on failure. */
    const publishTo = (t: string, output: Buffer, ctx: ActionContext): void | Promise<void> => {
      const hops = (ctx.message.hops ?? 0) + 1;
      if (hops > MAX_REPUBLISH_HOPS) {
        throw ERRORS.GH_ACTION_FAILED(
          { action: 'republish', rule: ctx.ruleName, reason: `republish loop: message already republished ${hops - 1} times` },
          { where: ctx.ruleName },
        );
      }
      if (!validTopicName(t)) {
        throw ERRORS.GH_ACTION_FAILED(
          { action: 'republish', rule: ctx.ruleName, reason: `topic rendered to an invalid topic ${JSON.stringify(t)}` },
          {
            where: ctx.ruleName,
            hint: 'a topic name is 1 to 65,535 bytes of UTF-8 without +, # or NUL: check the fields the template uses',
          },
        );
      }
      if (!headers) return publisher.publish({ topic: t, payload: output, qos: o.qos, retain: o.retain, hops, sourceRule: ctx.ruleName });
      const properties = headers(evalContextOf(ctx), ctx.ruleName);
      return publisher.publish({ topic: t, payload: output, qos: o.qos, retain: o.retain, hops, sourceRule: ctx.ruleName, properties });
    };
    const action: Action = {
      kind: 'republish',
      resource: constantTopic ?? o.topic,
      durable: false,
      execute(output, ctx) {
        if (constantTopic !== undefined) return publishTo(constantTopic, output, ctx);
        // A templated topic: a failure names the topic this message rendered (the error action's
        // failedResource, as AWS IoT gives the topic the republish used), not the template.
        const t = lead + topic.renderWith(evalContextOf(ctx));
        try {
          const r = publishTo(t, output, ctx);
          if (!r) return r;
          return r.then(undefined, (err: unknown) => {
            throw new ActionFailedOn(t, err);
          });
        } catch (err) {
          throw new ActionFailedOn(t, err);
        }
      },
    };
    return action;
  };
}
