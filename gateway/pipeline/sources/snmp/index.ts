// `type: snmp` source kind: polls of SNMP agents (UPSs, PDUs, switches, sensors) and a trap
// listener (options.ts); net-snmp and the source load only when one is configured.
import { GatehouseError } from '../../../../core/errors.js';
import type { SourceKind } from '../kind.js';
import type { NetSnmp } from './lib.js';
import { snmpSourceSchema } from './options.js';

export { snmpSourceSchema, type SnmpSourceOptions } from './options.js';

export const snmpSourceKind: SourceKind<typeof snmpSourceSchema> = {
  type: 'snmp',
  schema: snmpSourceSchema,
  async create(options, deps) {
    let lib: NetSnmp;
    try {
      // A CommonJS module: its module.exports is the ESM default export.
      lib = ((await import('net-snmp')) as unknown as { default: NetSnmp }).default;
    } catch (err) {
      throw new GatehouseError('GH_SOURCE_UNAVAILABLE', `snmp source '${options.name}' cannot load its library`, {
        where: `sources.${options.name}`,
        hint: 'reinstall the gateway (npm install net-snmp)',
        cause: err,
      });
    }
    const { SnmpSource } = await import('./source.js');
    return new SnmpSource(options, lib, deps);
  },
};
