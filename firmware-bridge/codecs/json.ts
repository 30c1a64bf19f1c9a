import { ERRORS } from '../../core/errors.js';
import type { Codec, Decoded } from './types.js';

export function jsonCodec(): Codec {
  return {
    type: 'json',
    decode(payload: Buffer): Decoded {
      let v: unknown;
      try {
        v = JSON.parse(payload.toString('utf8'));
      } catch (err) {
        throw ERRORS.GH_CODEC_INVALID(
          { codec: 'json', reason: `frame is not valid JSON: ${(err as Error).message}` },
          {
            hint: 'the device must send one JSON object per frame',
          },
        );
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw ERRORS.GH_CODEC_INVALID({ codec: 'json', reason: 'frame JSON is not an object' }, { hint: 'send {"field": value, ...}' });
      }
      return v as Decoded;
    },
    // The frame already is the JSON text: copy it (frames may share the read buffer).
    toJson: (payload) => Buffer.from(payload),
    encode: (value) => Buffer.from(JSON.stringify(value), 'utf8'),
  };
}
