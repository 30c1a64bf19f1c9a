// `type: syslog` source kind: routers, switches, UPSs and PLC gateways send their events by
// syslog (options.ts); the listeners and the parser load only when one is configured.
import type { SourceKind } from '../kind.js';
import { syslogSourceSchema } from './options.js';

export { syslogSourceSchema, type SyslogSourceOptions } from './options.js';

export const syslogSourceKind: SourceKind<typeof syslogSourceSchema> = {
  type: 'syslog',
  schema: syslogSourceSchema,
  async create(options, deps) {
    const { SyslogSource } = await import('./source.js');
    return new SyslogSource(options, deps);
  },
};
