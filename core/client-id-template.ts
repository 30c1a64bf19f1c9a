// A client id template: `${gatewayId}` and `${installationId}` and nothing else, checked when the
// config loads. The MQTT source's clientId (gateway/pipeline/sources/mqtt/client-id.ts) and the
// control channel's (gateway/control/options.ts) are compiled here; both are filled by
// gateway/upstream/client-id.ts, as the MQTT bridge's (which checks its own with its own code).
import { fieldParts, scanTemplate, type TemplatePart } from './template.js';
import { isGatehouseError } from './errors.js';

/** The placeholders a client id template may hold. */
export const CLIENT_ID_FIELDS = ['gatewayId', 'installationId'] as const;

/** The template compiled; a malformed template or an unknown placeholder is the problem's text. */
export function compileClientIdTemplate(template: string): TemplatePart[] | { problem: string } {
  let parts: ReturnType<typeof fieldParts>;
  try {
    // No legacy `{name}` form: braces in a client id are its own characters.
    parts = fieldParts(scanTemplate(template), CLIENT_ID_FIELDS);
  } catch (err) {
    if (!isGatehouseError(err, 'GH_TEMPLATE_INVALID')) throw err;
    return { problem: err.message };
  }
  if ('unknown' in parts)
    return { problem: `unknown placeholder '\${${parts.unknown}}' in clientId '${template}': use only \${gatewayId} and \${installationId}` };
  return parts;
}
