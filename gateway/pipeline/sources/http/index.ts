// `type: http` source kind: devices and apps POST their readings (options.ts); the server and the
// credentials load only when one is configured.
import { existsSync } from 'node:fs';
import type { SourceKind } from '../kind.js';
import { httpSourceSchema } from './options.js';
import { readTokenFile } from './token-file.js';

export { httpSourceSchema, type HttpSourceOptions } from './options.js';

export const httpSourceKind: SourceKind<typeof httpSourceSchema> = {
  type: 'http',
  schema: httpSourceSchema,
  async create(options, deps) {
    const [{ HttpSource }, { HttpAuth }, { clocksOf }] = await Promise.all([import('./source.js'), import('./auth.js'), import('../../../../core/clock.js')]);
    // Token files are read here (check-config reads them too): the source holds only their hashes.
    const auth = HttpAuth.create(options, clocksOf(deps).monotonic);
    return new HttpSource(options, deps, auth);
  },
  // check-config: the token files hold a token (a missing one is said by check-config's file check)
  preflight(options) {
    for (const [i, t] of options.auth.tokens.entries())
      if (t.tokenFile !== undefined && existsSync(t.tokenFile)) readTokenFile(t.tokenFile, `sources.${options.name}.auth.tokens.${i}.tokenFile`);
  },
};
