// The MQTT source's clientId: `${gatewayId}` and `${installationId}` filled in, as the MQTT bridge
// destination's (upstream/destinations/mqtt.ts). A fleet flashed from one SD card image shares the
// config: with one fixed clientId every board connects into one persistent session, the broker
// hands it to each connect in turn (closing the others) and splits the messages queued for it
// between them, so each board gets only some of the commands sent down. `src-${installationId}`
// gives each board a session of its own. No mqtt.js here: the schema (options.ts) checks the
// template at load, source.ts renders it at start.
import { compileClientIdTemplate } from '../../../../core/client-id-template.js';
import { isImageHostName } from '../../../../core/image-host-names.js';

/** The clientId compiled (the control channel's is compiled alike); a malformed template or an unknown placeholder is the problem's text. */
export const compileClientId = compileClientIdTemplate;

/**
 * The warning for a source whose clientId every board flashed from one image shares: a gatewayId
 * such images give every board, and a clientId without ${installationId}. undefined otherwise.
 */
export function sharedSourceClientIdWarning(src: { name?: unknown; clientId?: unknown }, gatewayId: string): { message: string; hint: string } | undefined {
  const clientId = src.clientId;
  if (!isImageHostName(gatewayId) || typeof clientId !== 'string' || clientId.includes('${installationId}')) return undefined;
  return {
    message: `MQTT source '${String(src.name)}': gatewayId '${gatewayId}' is the host name an OS image gives every board it is flashed on, and clientId '${clientId}' names no board: gateways made from one SD card image all subscribe in one persistent session, each connect takes it from the others, and the broker splits the messages queued for it between them (each board gets only some of the commands sent down)`,
    hint: "put ${installationId} in clientId (e.g. src-${installationId}: each gateway's own, docs/mqtt-source.md), or give each gateway its own clientId",
  };
}
