// `type: modbus` source kind: the options schema (light) and a factory that loads the Modbus
// client library (modbus-serial) only when a Modbus source is configured.
import { GatehouseError } from '../../../../core/errors.js';
import type { SourceKind } from '../kind.js';
import type { Source } from '../../contract.js';
import { modbusOptionsSchema, type ModbusOptions } from './options.js';
import type { ModbusCtor } from './link.js';

export { modbusOptionsSchema, type ModbusOptions } from './options.js';

export const modbusKind: SourceKind<typeof modbusOptionsSchema> = {
  type: 'modbus',
  schema: modbusOptionsSchema,
  async create(options: ModbusOptions, deps): Promise<Source> {
    let Modbus: ModbusCtor;
    try {
      // A CommonJS module: its module.exports (the client class) is the ESM default export.
      const mod = (await import('modbus-serial')) as unknown as { default: ModbusCtor };
      Modbus = mod.default;
    } catch (err) {
      throw new GatehouseError('GH_SOURCE_UNAVAILABLE', `Modbus source '${options.name}' cannot load its client library`, {
        where: `sources.${options.name}`,
        hint: 'reinstall the gateway (npm install modbus-serial)',
        cause: err,
      });
    }
    const [{ ModbusLink }, { ModbusSource }] = await Promise.all([import('./link.js'), import('./poller.js')]);
    const target = options.tcp ? { kind: 'tcp' as const, ...options.tcp } : { kind: 'rtu' as const, ...(options.rtu as NonNullable<ModbusOptions['rtu']>) };
    return new ModbusSource(options, new ModbusLink(Modbus, target, options.timeoutMs), deps);
  },
};
