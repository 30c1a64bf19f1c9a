// `type: opcua` source kind: options schema (light) and a factory that loads node-opcua (an
// optional install, ~33 MB on disk, ~110 MB RSS) only when an OPC UA source is configured.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ERRORS } from '../../../../core/errors.js';
import type { SourceKind } from '../kind.js';
import type { Source } from '../../contract.js';
import { opcuaOptionsSchema, type OpcuaOptions } from './options.js';

export { opcuaOptionsSchema, type OpcuaOptions } from './options.js';

export const opcuaKind: SourceKind<typeof opcuaOptionsSchema> = {
  type: 'opcua',
  schema: opcuaOptionsSchema,
  preflight(options: OpcuaOptions): void {
    try {
      createRequire(import.meta.url).resolve('node-opcua-client');
    } catch (err) {
      throw ERRORS.GH_SOURCE_UNAVAILABLE(
        { source: options.name, package: 'node-opcua-client' },
        {
          where: `sources.${options.name}`,
          hint: 'run `npm install node-opcua-client` in the gateway folder (about 33 MB), or set enabled: false on the source',
          cause: err,
        },
      );
    }
  },
  async create(options: OpcuaOptions, deps): Promise<Source> {
    const { loadOpcua, opcuaLogText } = await import('./connect.js');
    const { ua, certs } = await loadOpcua();
    // node-opcua prints its warnings with console.log: route them into our JSON log instead.
    // (Process-wide setting of the library; every opcua source sets the same thing.)
    const lib = deps.logger.child({ lib: 'node-opcua' });
    ua.setWarningLogger((...args: unknown[]) => lib.debug(opcuaLogText(args)));
    ua.setErrorLogger((...args: unknown[]) => lib.warn(opcuaLogText(args)));
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
