// The `file` source kind: options schema (light) and a lazy factory.
import type { SourceKind } from '../kind.js';
import { fileSourceSchema } from './options.js';

export const fileSourceKind: SourceKind<typeof fileSourceSchema> = {
  type: 'file',
  schema: fileSourceSchema,
  async create(options, deps) {
    const { FileSource } = await import('./source.js');
    return new FileSource(options, deps);
  },
};
