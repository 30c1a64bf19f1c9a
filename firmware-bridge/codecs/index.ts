import type { CodecOptions } from '../options.js';
import { csvCodec } from './csv.js';
import { jsonCodec } from './json.js';
import { kvCodec } from './kv.js';
import { structCodec } from './struct.js';
import type { Codec } from './types.js';

export type { Codec, Decoded } from './types.js';
export { structSize } from './struct.js';

export function createCodec(o: CodecOptions): Codec {
  switch (o.type) {
    case 'json':
      return jsonCodec();
    case 'csv':
      return csvCodec(o);
    case 'kv':
      return kvCodec(o);
    case 'struct':
      return structCodec(o);
  }
}
