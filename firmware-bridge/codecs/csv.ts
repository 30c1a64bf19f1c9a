// CSV records with configured column names. No quoting: firmware emits plain values; a record
// with a different number of fields than columns is a decode error.
import { ERRORS } from '../../core/errors.js';
import type { Codec, Decoded } from './types.js';
import { parseScalar, scalarToText } from './types.js';

export interface CsvCodecOptions {
  columns: string[];
  separator: string;
  numbers: boolean;
}

export function csvCodec(o: CsvCodecOptions): Codec {
  const cols = o.columns;
  const sep = o.separator;
  return {
    type: 'csv',
    decode(payload: Buffer): Decoded {
      const parts = payload.toString('utf8').split(sep);
      if (parts.length !== cols.length) {
        throw ERRORS.GH_CODEC_INVALID(
          { codec: 'csv', reason: `record has ${parts.length} fields, expected ${cols.length} (${cols.join(sep)})` },
          {
            hint: 'match codec.columns to what the firmware prints',
          },
        );
      }
      const out: Decoded = {};
      for (let i = 0; i < cols.length; i++) out[cols[i]!] = parseScalar(parts[i]!.trim(), o.numbers);
      return out;
    },
    toJson: (_payload, decoded) => Buffer.from(JSON.stringify(decoded), 'utf8'),
    encode(value: Decoded): Buffer {
      let s = '';
      for (let i = 0; i < cols.length; i++) {
        if (i > 0) s += sep;
        s += scalarToText(value[cols[i]!]);
      }
      return Buffer.from(s, 'utf8');
    },
  };
}
