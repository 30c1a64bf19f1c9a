// `type: opcua` source kind: options schema (light) and a factory that loads node-opcua (an
// optional install, ~33 MB on disk, ~110 MB RSS) only when an OPC UA source is configured.
import { join } from 'node:path';
import type { SourceKind } from '../kind.js';
import type { Source } from '../../contract.js';
import { opcuaOptionsSchema, type OpcuaOptions } from './options.js';

export { opcuaOptionsSchema, type OpcuaOptions } from './options.js';

export const opcuaKind: SourceKind<typeof opcuaOptionsSchema> = {
  type: 'opcua',
  schema: opcuaOptionsSchema,
  async create(options: OpcuaOptions, deps): Promise<Source> {
    const { loadOpcua } = await import('./connect.js');
    const { ua, certs } = await loadOpcua();
    const { OpcuaSource } = await import('./source.js');
    return new OpcuaSource(
      options,
      ua,
      certs,
      {
        endpoint: options.endpoint,
        securityMode: options.securityMode,
        securityPolicy: options.securityPolicy,
        auth: options.auth,
        pkiDir: options.pkiDir ?? join(deps.dataDir, 'opcua', 'pki'),
        trustUnknownServer: options.trustUnknownServer,
        timeoutMs: options.connectTimeoutMs,
        sessionTimeoutMs: options.sessionTimeoutMs,
      },
      deps,
    );
  },
};
