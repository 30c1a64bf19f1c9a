// The AWS IoT republish action's `headers`: MQTT 5 properties of the republished message, each a
// ${...} substitution template (AWS IoT SQL reference, "Republish action"). correlationData is
// base64 (rendered, then decoded); messageExpiry is seconds; payloadFormatIndicator is
// UNSPECIFIED_BYTES or UTF8_DATA.
import { z } from '../../../core/zod.js';
import { ERRORS } from '../../../core/errors.js';
import type { MessageProperties } from '../../../core/message.js';
import type { CompiledTemplate, EvalContext } from '../../../rules/index.js';

export const republishHeadersSchema = z
  .strictObject({
    payloadFormatIndicator: z.string().optional().describe('UNSPECIFIED_BYTES or UTF8_DATA (template)'),
    contentType: z.string().optional().describe('Content type (template)'),
    responseTopic: z.string().optional().describe('Response topic (template)'),
    correlationData: z.string().optional().describe('Correlation data, base64 encoded (template)'),
    messageExpiry: z.string().optional().describe('Message expiry interval in seconds (template)'),
    userProperties: z
      .array(z.strictObject({ key: z.string().min(1), value: z.string() }))
      .optional()
      .describe('User properties, each { key, value } (value is a template)'),
  })
  .strict()
  .describe('MQTT 5 properties of the republished message, as the AWS IoT republish action `headers`.');

export type RepublishHeaders = z.infer<typeof republishHeadersSchema>;

type Compile = (source: string) => CompiledTemplate;

/** Compile the headers once; the returned function renders the properties per message. */
export function compileHeaders(h: RepublishHeaders, compile: Compile): (c: EvalContext, where: string) => MessageProperties {
  const t = (s: string | undefined): CompiledTemplate | undefined => (s === undefined ? undefined : compile(s));
  const pfi = t(h.payloadFormatIndicator);
  const ct = t(h.contentType);
  const rt = t(h.responseTopic);
  const cd = t(h.correlationData);
  const me = t(h.messageExpiry);
  const ups = (h.userProperties ?? []).map((u) => ({ key: u.key, value: compile(u.value) }));
  return (c, where) => {
    const p: MessageProperties = {};
    if (pfi) {
      const v = pfi.renderWith(c);
      if (v !== 'UTF8_DATA' && v !== 'UNSPECIFIED_BYTES') {
        throw ERRORS.GH_ACTION_FAILED(
          { action: 'republish', rule: where, reason: `headers.payloadFormatIndicator rendered to '${v}'` },
          {
            where,
            hint: 'use UTF8_DATA or UNSPECIFIED_BYTES',
          },
        );
      }
      p.payloadFormatIndicator = v === 'UTF8_DATA';
    }
    if (ct) p.contentType = ct.renderWith(c);
    if (rt) p.responseTopic = rt.renderWith(c);
    if (cd) p.correlationData = Buffer.from(cd.renderWith(c), 'base64');
    if (me) {
      const v = me.renderWith(c);
      if (!/^\d+$/.test(v) || Number(v) > 0xffff_ffff) {
        throw ERRORS.GH_ACTION_FAILED(
          { action: 'republish', rule: where, reason: `headers.messageExpiry rendered to '${v}'` },
          { where, hint: 'seconds, a whole number' },
        );
      }
      p.messageExpiryInterval = Number(v);
    }
    if (ups.length > 0) {
      const up: Record<string, string | string[]> = {};
      for (const u of ups) {
        const v = u.value.renderWith(c);
        const prev = up[u.key];
        up[u.key] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      p.userProperties = up;
    }
    return p;
  };
}
