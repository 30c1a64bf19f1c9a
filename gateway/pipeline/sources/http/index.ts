// `type: http` source kind: devices and apps POST their readings (options.ts); the server and the
// credentials load only when one is configured.
import type { SourceKind } from '../kind.js';
import { httpSourceSchema } from './options.js';

export { httpSourceSchema, type HttpSourceOptions } from './options.js';

export const httpSourceKind: SourceKind<typeof httpSourceSchema> = {
  type: 'http',
  schema: httpSourceSchema,
  async create(options, deps) {
    const [{ HttpSource }, { HttpAuth }, { clocksOf }] = await Promise.all([import('./source.js'), import('./auth.js'), import('../../../../core/clock.js')]);
    // Token files are read here (check-config reads them too): the source holds only their hashes.
    const auth = await HttpAuth.create(options, clocksOf(deps).monotonic);
    return new HttpSource(options, deps, auth);
  },
};
