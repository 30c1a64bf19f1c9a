// A gatewayId that names no gateway in particular: the host name an OS image gives every board it
// is flashed on (Raspberry Pi OS: raspberrypi), which gatewayId defaults to. A fleet made by
// copying one configured SD card to more boards (dd, Raspberry Pi Imager, a golden image) keeps
// it on each, and with a control broker they all answer to one name: one retained status topic
// that each overwrites, heartbeats mixed on one topic, one control client id whose session each
// takes from the others (channel.ts backs off and names it once connected), and a rule update for
// that gatewayId reaches them all. Valid for a lone gateway: a warning (check-config, and the
// control plane's start), not an error.
import type { GatehouseConfig } from './schema.js';

/** Host names that OS images for single-board computers ship with, the same on every board. */
export const IMAGE_HOST_NAMES: readonly string[] = ['raspberrypi', 'ubuntu', 'debian', 'dietpi', 'orangepi', 'beaglebone'];

/** The warning for `gatewayId` shared by every board an image is flashed on, with a control broker; undefined otherwise. */
export function imageHostNameWarning(config: Pick<GatehouseConfig, 'gatewayId' | 'control'>): { where: string; message: string; hint: string } | undefined {
  const id = config.gatewayId;
  if (!IMAGE_HOST_NAMES.includes(id.toLowerCase()) || config.control.upstream === undefined) return undefined;
  const clientId = config.control.upstream.clientId ?? `gatehouse-control-${id}`;
  return {
    where: 'gatewayId',
    message: `gatewayId '${id}' is the host name an OS image gives every board it is flashed on: gateways made from one SD card image all answer to it on the control broker (one retained status topic that each overwrites, heartbeats mixed on one topic, the control client id '${clientId}' whose session each takes from the others, and every rule update for '${id}' applied by all)`,
    hint: "give each gateway its own host name before Gatehouse starts there (sudo hostnamectl set-hostname NAME, or Raspberry Pi Imager's hostname setting per card: gatewayId defaults to it), or set gatewayId in each gateway's config (docs/destinations.md, A fleet from one image)",
  };
}

/**
 * The warning for an MQTT bridge (an exporter's destination, a rule's mqtt action) whose clientId
 * every board flashed from one image shares: a gatewayId such images give every board, and a
 * clientId without ${installationId} (${gatewayId} is that shared name there). Each board's
 * connect takes the session from the others. undefined otherwise.
 */
export function sharedBridgeClientIdWarning(subject: string, gatewayId: string, clientId: unknown): { message: string; hint: string } | undefined {
  if (!IMAGE_HOST_NAMES.includes(gatewayId.toLowerCase()) || typeof clientId !== 'string' || clientId.includes('${installationId}')) return undefined;
  return {
    message: `${subject}: gatewayId '${gatewayId}' is the host name an OS image gives every board it is flashed on, and clientId '${clientId}' names no board: gateways made from one SD card image all connect with it, and each connect takes the session from the others (the broker closes their connections; delivery crawls)`,
    hint: "put ${installationId} in clientId (e.g. gw-${installationId}: each gateway's own, docs/destinations.md, A fleet from one image), or give each gateway its own clientId",
  };
}
