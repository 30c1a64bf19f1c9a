// The client id an MQTT source connects with: its clientId template (client-id.ts) filled with the
// gateway's id and, when it holds ${installationId}, the installation id (bound to the store and
// the machine: upstream/installation-id.ts), known at the gateway's start. Apart from client-id.ts,
// which the schema loads with the config.
import { GatehouseError } from '../../../../core/errors.js';
import { templatedClientId, type TemplatedClientId } from '../../../upstream/client-id.js';
import type { SourceDeps } from '../kind.js';
import { compileClientId } from './client-id.js';

export { INSTALLATION_ID_FILE } from '../../../upstream/installation-id.js';

export type SourceClientId = TemplatedClientId;

export function sourceClientId(o: { name: string; clientId: string }, deps: Pick<SourceDeps, 'gatewayId' | 'installationId' | 'dataDir'>): SourceClientId {
  const parts = compileClientId(o.clientId);
  // The schema checked it (options.ts): only a caller that skipped the schema gets here.
  if ('problem' in parts) throw new GatehouseError('GH_CONFIG_INVALID', `MQTT source '${o.name}': ${parts.problem}`, { where: 'clientId' });
  return templatedClientId(parts, deps);
}
