// A client id template filled with `${gatewayId}` and `${installationId}` (as mosquitto's bridge
// fills %h): the MQTT bridge destination's and the MQTT source's clientId. A fleet flashed from one
// SD card image shares its config, and `gw-${installationId}` gives each board a session of its own
// (docs/destinations.md, "A fleet from one image"). Each site compiles and checks its template with
// its own error code; the filling, and the wait for the installation id, are here.
import { hostGatewayId } from '../../core/deps.js';
import { renderTemplate, type TemplatePart } from '../../core/template.js';
import { lazyInstallationId } from './installation-id.js';

/** The template holds ${installationId}: filling it waits for the gateway's installation id. */
export function needsInstallationId(parts: readonly TemplatePart[]): boolean {
  return parts.some((p) => typeof p === 'object' && p.field === 'installationId');
}

/** The client id the broker sees (${installationId} left as written while not known). */
export function renderClientId(parts: readonly TemplatePart[], ids: { gatewayId: string; installationId?: string | undefined }): string {
  return renderTemplate(parts, (f) => (f === 'gatewayId' ? ids.gatewayId : (ids.installationId ?? '${installationId}')));
}

export interface TemplatedClientId {
  /** The client id once filled; undefined while its ${installationId} is not known. */
  known(): string | undefined;
  /** As logs and status show it: filled, or with ${installationId} as written while not known. */
  shown(): string;
  /** Fill it; throws while the installation id cannot be read or kept (a full disk). */
  resolve(): Promise<string>;
}

/**
 * `gatewayId` (default: the host name, as the config's) and `installationId` (a gateway's, bound to
 * its store and machine: installation-id.ts; else the one kept in `dataDir`) fill the template.
 */
export function templatedClientId(
  parts: readonly TemplatePart[],
  deps: { gatewayId?: string | undefined; installationId?: (() => Promise<string>) | undefined; dataDir?: string | undefined },
): TemplatedClientId {
  const gatewayId = deps.gatewayId ?? hostGatewayId();
  const installationId = needsInstallationId(parts) ? (deps.installationId ?? lazyInstallationId(deps.dataDir)) : undefined;
  let known = installationId === undefined ? renderClientId(parts, { gatewayId }) : undefined;
  return {
    known: () => known,
    shown: () => known ?? renderClientId(parts, { gatewayId }),
    async resolve() {
      if (known !== undefined) return known;
      known = renderClientId(parts, { gatewayId, installationId: await installationId!() });
      return known;
    },
  };
}
