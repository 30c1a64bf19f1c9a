// Framing factory from validated options.
import type { FramingOptions } from '../options.js';
import { cobsFraming } from './cobs.js';
import { crcFraming } from './crc-frame.js';
import { delimiterFraming } from './delimiter.js';
import { slipFraming } from './slip.js';
import type { Framing } from './types.js';

export type { Framing, FrameDecoder, FrameErrorReason, FrameErrorSink } from './types.js';
export { crc16 } from './crc16.js';
export { cobsEncode, cobsDecodeInto } from './cobs.js';
export { slipEncode } from './slip.js';
export { crcEncode } from './crc-frame.js';

export function createFraming(o: FramingOptions): Framing {
  switch (o.type) {
    case 'line':
      return delimiterFraming(o);
    case 'cobs':
      return cobsFraming(o);
    case 'slip':
      return slipFraming(o);
    case 'crc':
      return crcFraming(o);
  }
}
