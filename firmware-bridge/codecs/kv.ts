// key=value pairs separated by any of pairSeparators ("t=21.5 h=40", "t=21.5,h=40").
// A token without the key/value separator is a decode error.
import { ERRORS } from '../../core/errors.js';
import type { Codec, Decoded } from './types.js';
import { parseScalar, scalarToText } from './types.js';

export interface KvCodecOptions {
  pairSeparators: string;
  kvSeparator: string;
  numbers: boolean;
}

export function kvCodec(o: KvCodecOptions): Codec {
  const seps = new Set<number>();
  for (let i = 0; i < o.pairSeparators.length; i++) seps.add(o.pairSeparators.charCodeAt(i));
  const kv = o.kvSeparator;
  const joiner = o.pairSeparators[0]!;
  return {
    type: 'kv',
    decode(payload: Buffer): Decoded {
      const s = payload.toString('utf8');
      const out: Decoded = {};
      let count = 0;
      let start = 0;
      for (let i = 0; i <= s.length; i++) {
        if (i < s.length && !seps.has(s.charCodeAt(i))) continue;
        if (i > start) {
          const eq = s.indexOf(kv, start);
          if (eq < 0 || eq >= i || eq === start) {
            throw ERRORS.GH_CODEC_INVALID(
              { codec: 'kv', reason: `token '${s.slice(start, i).slice(0, 40)}' is not key${kv}value` },
              {
                hint: `send pairs like key${kv}value separated by one of ${JSON.stringify(o.pairSeparators)}`,
              },
            );
          }
          out[s.slice(start, eq)] = parseScalar(s.slice(eq + 1, i), o.numbers);
          count++;
        }
        start = i + 1;
      }
      if (count === 0) throw ERRORS.GH_CODEC_INVALID({ codec: 'kv', reason: `no key${kv}value pairs in frame` });
      return out;
    },
    toJson: (_payload, decoded) => Buffer.from(JSON.stringify(decoded), 'utf8'),
    encode(value: Decoded): Buffer {
      let s = '';
      for (const k of Object.keys(value)) {
        if (s.length > 0) s += joiner;
        s += k + kv + scalarToText(value[k]);
      }
      return Buffer.from(s, 'utf8');
    },
  };
}
