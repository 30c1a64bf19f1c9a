// The client id an MQTT source connects with: its clientId template (client-id.ts) filled with the
// gateway's id and, when it holds ${installationId}, the installation id (bound to the store and
// the machine: upstream/installation-id.ts), known at the gateway's start. Apart from client-id.ts,
// which the schema loads with the config.
import { GatehouseError } from '../../../../core/errors.js';
import { hostGatewayId } from '../../../../core/deps.js';
import { lazyInstallationId } from '../../../upstream/installation-id.js';
import type { SourceDeps } from '../kind.js';
import { compileClientId, needsInstallationId, renderClientId } from './client-id.js';

export { INSTALLATION_ID_FILE } from '../../../upstream/installation-id.js';

export interface SourceClientId {
  /** The client id once filled; undefined while its ${installationId} is not known. */
  known(): string | undefined;
  /** As logs and status show it: filled, or with ${installationId} as written while not known. */
  shown(): string;
  /** Fill it; throws while the installation id cannot be read or kept (a full disk). */
  resolve(): Promise<string>;
}

export function sourceClientId(o: { name: string; clientId: string }, deps: Pick<SourceDeps, 'gatewayId' | 'installationId' | 'dataDir'>): SourceClientId {
  const parts = compileClientId(o.clientId);
  // The schema checked it (options.ts): only a caller that skipped the schema gets here.
  if ('problem' in parts) throw new GatehouseError('GH_CONFIG_INVALID', `MQTT source '${o.name}': ${parts.problem}`, { where: 'clientId' });
  const gatewayId = deps.gatewayId ?? hostGatewayId();
  const installationId = needsInstallationId(parts) ? (deps.installationId ?? lazyInstallationId(deps.dataDir)) : undefined;
  let known = installationId === undefined ? renderClientId(parts, { gatewayId }) : undefined;
  return {
    known: () => known,
    shown: () => known ?? renderClientId(parts, { gatewayId }),
    async resolve() {
      if (known !== undefined || installationId === undefined) return known!;
      known = renderClientId(parts, { gatewayId, installationId: await installationId() });
      return known;
    },
  };
}
