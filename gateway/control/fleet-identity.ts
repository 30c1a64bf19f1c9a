// A gatewayId that names no gateway in particular: the host name an OS image gives every board it
// is flashed on (Raspberry Pi OS: raspberrypi), which gatewayId defaults to. A fleet made by
// copying one configured SD card to more boards (dd, Raspberry Pi Imager, a golden image) keeps
// it on each, and with a control broker they all answer to one name: one retained status topic
// that each overwrites, heartbeats mixed on one topic, and a rule update for that gatewayId reaches
// them all; and, unless control.upstream.clientId holds ${installationId}, one control client id
// whose session each takes from the others (channel.ts backs off and names it once connected).
// Valid for a lone gateway: a warning (check-config, and the control plane's start), not an error.
import type { ControlOptions } from './options.js';
import { isImageHostName } from '../../core/image-host-names.js';

/** The warning for `gatewayId` shared by every board an image is flashed on, with a control broker; undefined otherwise. */
export function imageHostNameWarning(config: {
  gatewayId: string;
  control: Pick<ControlOptions, 'upstream'>;
}): { where: string; message: string; hint: string } | undefined {
  const id = config.gatewayId;
  if (!isImageHostName(id) || config.control.upstream === undefined) return undefined;
  const template = config.control.upstream.clientId ?? 'gatehouse-control-${gatewayId}';
  // ${installationId} is each board's own: their sessions stay apart, the topics (per gatewayId) do not.
  const ownSession = template.includes('${installationId}');
  const clientId = template.replaceAll('${gatewayId}', id);
  const shared = ownSession
    ? `one retained status topic that each overwrites, heartbeats mixed on one topic, each reading the rule updates and rollbacks sent to the others, and every rule update for '${id}' applied by all; their control sessions are apart (client id '${clientId}')`
    : `one retained status topic that each overwrites, heartbeats mixed on one topic, the control client id '${clientId}' whose session each takes from the others, and every rule update for '${id}' applied by all`;
  return {
    where: 'gatewayId',
    message: `gatewayId '${id}' is the host name an OS image gives every board it is flashed on: gateways made from one SD card image all answer to it on the control broker (${shared})`,
    hint:
      "give each gateway its own host name before Gatehouse starts there (sudo hostnamectl set-hostname NAME, or Raspberry Pi Imager's hostname setting per card: gatewayId defaults to it), or set gatewayId in each gateway's config (docs/destinations.md, A fleet from one image)" +
      (ownSession
        ? ''
        : "; until then, put ${installationId} in control.upstream.clientId (gatehouse-control-${installationId}: each board's own session; the control topics stay shared)"),
  };
}
