// Options of one serial link (zod schema with defaults and descriptions; gateway/config/schema.ts
// composes it into the config file schema). Inferred types are exported next to each schema.
import { z } from '../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../core/timer-delay.js';
import { compileTopic } from './topic.js';

const maxFrameBytes = z
  .number()
  .int()
  .min(1)
  .max(65535)
  .default(4096)
  .describe('Largest frame payload accepted; longer frames are counted as errors and skipped');

export const LineFramingSchema = z.strictObject({
  type: z.literal('line').describe('Frames are the bytes between delimiters (newline by default)'),
  delimiter: z.string().min(1).default('\n').describe('Delimiter string (any bytes, UTF-8), e.g. "\\n", "\\r\\n", ";"'),
  stripCR: z.boolean().default(true).describe("Remove a trailing '\\r' before the delimiter (CRLF line endings)"),
  maxFrameBytes,
});
export const CobsFramingSchema = z.strictObject({ type: z.literal('cobs').describe('COBS-encoded frames, each terminated by 0x00'), maxFrameBytes });
export const SlipFramingSchema = z.strictObject({ type: z.literal('slip').describe('SLIP frames (RFC 1055), END 0xC0 delimited'), maxFrameBytes });
export const CrcFramingSchema = z.strictObject({
  type: z.literal('crc').describe('0xA5 0x5A, u16 BE length, payload, u16 BE CRC-16/CCITT-FALSE over length+payload'),
  maxFrameBytes,
});
export const FramingSchema = z.discriminatedUnion('type', [LineFramingSchema, CobsFramingSchema, SlipFramingSchema, CrcFramingSchema]);
export type FramingOptions = z.infer<typeof FramingSchema>;

const numbers = z.boolean().default(true).describe('Parse numeric-looking values as numbers');

export const StructFieldSchema = z.strictObject({
  name: z.string().min(1).describe('Field name in the decoded JSON object'),
  type: z
    .enum(['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'f64'])
    .describe('Wire type (an f32 decodes to the shortest decimal of its float32: 21.7, not 21.700000762939453)'),
  endian: z.enum(['le', 'be']).default('le').describe('Byte order'),
  scale: z.number().optional().describe('Decoded value = raw * scale + offset'),
  offset: z.number().optional().describe('Decoded value = raw * scale + offset'),
});
export type StructField = z.infer<typeof StructFieldSchema>;

export const JsonCodecSchema = z.strictObject({ type: z.literal('json').describe('Each frame is one JSON object') });
export const CsvCodecSchema = z.strictObject({
  type: z.literal('csv').describe('Each frame is one CSV record with configured column names'),
  columns: z.array(z.string().min(1)).min(1).describe('Column names, in order'),
  separator: z.string().length(1).default(',').describe('Field separator (one character)'),
  numbers,
});
export const KvCodecSchema = z.strictObject({
  type: z.literal('kv').describe('Each frame is key=value pairs, e.g. "t=21.5 h=40"'),
  pairSeparators: z.string().min(1).default(' ,;\t').describe('Characters that separate pairs (any of them)'),
  kvSeparator: z.string().length(1).default('=').describe('Character between a key and its value'),
  numbers,
});
export const StructCodecSchema = z.strictObject({
  type: z.literal('struct').describe('Each frame is a packed binary struct decoded with the declared fields'),
  fields: z.array(StructFieldSchema).min(1).describe('Fields in wire order'),
  allowTrailing: z.boolean().default(false).describe('Accept (ignore) bytes after the last field'),
});
export const CodecSchema = z.discriminatedUnion('type', [JsonCodecSchema, CsvCodecSchema, KvCodecSchema, StructCodecSchema]);
export type CodecOptions = z.infer<typeof CodecSchema>;

export const AckSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Acknowledged mode: ACK each frame once its records are committed'),
    mode: z
      .enum(['auto', 'header', 'field'])
      .default('auto')
      .describe(
        "Where the sequence number lives: 'header' (3-byte kind+u16 seq prefix, binary framings), 'field' (a field of the decoded object, text framings), 'auto' (header for cobs/slip/crc, field for line)",
      ),
    field: z.string().min(1).default('seq').describe("Sequence field name in 'field' mode"),
    dedupWindow: z
      .number()
      .int()
      .min(0)
      .max(65536)
      .default(0)
      .describe('Remember this many committed sequence numbers and drop resent duplicates (0: pass duplicates on, at-least-once)'),
  })
  .default({ enabled: false, mode: 'auto', field: 'seq', dedupWindow: 0 });

/** Largest ack.dedupWindow in header mode: half the 16-bit sequence space. */
export const MAX_HEADER_DEDUP = 32768;

/** A topic template as a subscription filter (placeholders as '+'); '' when it does not compile (link creation reports that). */
function topicFilter(template: string, link: string): string {
  try {
    return compileTopic(template, link).filter();
  } catch {
    return '';
  }
}

/** Whether some topic matches both MQTT filters ('+' one level, '#' the rest, also none). */
function filtersOverlap(a: string, b: string): boolean {
  if (a === '' || b === '') return false;
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#' || q === '#') return true;
    if (p === undefined || q === undefined) return p === q;
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
}

/** Only line framing is text: the others carry any byte (framing/*.ts `binarySafe`). */
const binarySafe = (framing: FramingOptions): boolean => framing.type !== 'line';

export const SerialLinkOptionsSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .describe('Link name (metrics label, ${link} in topics, rule action target)'),
    path: z.string().min(1).describe('Device path, e.g. /dev/ttyUSB0 or /dev/serial/by-id/usb-...'),
    baudRate: z.number().int().positive().default(115200).describe('Baud rate'),
    dataBits: z
      .union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)])
      .default(8)
      .describe('Data bits'),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none').describe('Parity'),
    stopBits: z
      .union([z.literal(1), z.literal(1.5), z.literal(2)])
      .default(1)
      .describe('Stop bits'),
    framing: FramingSchema.default({ type: 'line', delimiter: '\n', stripCR: true, maxFrameBytes: 4096 }).describe('How frames are delimited on the wire'),
    codec: CodecSchema.default({ type: 'json' }).describe('How a frame payload decodes to a JSON object'),
    topic: z
      .string()
      .min(1)
      .default('serial/${link}/telemetry')
      .describe('Topic template for decoded frames: ${link} and ${field} placeholders from the decoded object ({link}, {field}: deprecated)'),
    commandTopic: z.string().min(1).optional().describe('Downlink topic template (e.g. devices/${deviceId}/cmd); field placeholders subscribe as +'),
    ack: AckSchema.describe('Acknowledged mode'),
    reconnect: z
      .strictObject({
        initialMs: z.number().int().min(10).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(500).describe('First retry delay after the port fails or disappears'),
        maxMs: z.number().int().min(10).max(MAX_TIMER_MS, TIMER_TOO_LONG).default(10000).describe('Retry delay cap (exponential backoff with jitter)'),
        watchMs: z
          .number()
          .int()
          .min(50)
          .max(MAX_TIMER_MS, TIMER_TOO_LONG)
          .default(1000)
          .describe('How often the device path is checked (gone, or now naming another device)'),
      })
      .default({ initialMs: 500, maxMs: 10000, watchMs: 1000 })
      .describe('Reconnect behaviour'),
    frameTimeoutMs: z
      .number()
      .int()
      .min(10)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(1000)
      .describe('A partial frame idle this long is counted as truncated and dropped'),
    maxInFlight: z.number().int().min(1).default(256).describe('Frames handed on but not yet committed before reading pauses (backpressure)'),
    writeQueue: z.number().int().min(1).default(64).describe('Pending downlink writes before write() rejects'),
    errorLog: z
      .strictObject({
        max: z.number().int().min(0).default(10).describe('Frame/decode errors logged per interval (the rest only counted)'),
        intervalMs: z.number().int().min(100).default(60000).describe('Error log rate-limit interval'),
      })
      .default({ max: 10, intervalMs: 60000 })
      .describe('Error log rate limiting'),
  })
  // Pairs that cannot work, refused with the config (check-config) rather than at start.
  .superRefine((o, ctx) => {
    if (o.codec.type === 'struct' && !binarySafe(o.framing)) {
      ctx.addIssue({
        code: 'custom',
        path: ['framing'],
        input: o.framing,
        message: 'the struct codec needs a binary-safe framing: use framing type cobs, slip or crc (a struct byte 0x0A would end a line)',
      });
    }
    if (o.ack.enabled && o.ack.mode === 'header' && !binarySafe(o.framing)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ack', 'mode'],
        input: o.ack.mode,
        message: "ack mode 'header' needs a binary-safe framing: use ack.mode 'field' with line framing, or framing type cobs, slip or crc",
      });
    }
    if (o.commandTopic !== undefined && filtersOverlap(topicFilter(o.topic, o.name), topicFilter(o.commandTopic, o.name))) {
      ctx.addIssue({
        code: 'custom',
        path: ['commandTopic'],
        input: o.commandTopic,
        message: `commandTopic '${o.commandTopic}' also matches the link's telemetry topic '${o.topic}': every reading would be written back to the device as a command; use a topic of its own, e.g. devices/\${deviceId}/cmd`,
      });
    }
    // Header SEQ is 16-bit: a window near 65536 still holds a number when the device wraps round to
    // it, and that new frame would be ACKed as a resend and dropped. Half the space leaves room
    // for frames lost on the wire (never committed, so never pushed out of the window).
    const headerMode = o.ack.mode === 'header' || (o.ack.mode === 'auto' && binarySafe(o.framing));
    if (o.ack.enabled && headerMode && o.ack.dedupWindow > MAX_HEADER_DEDUP) {
      ctx.addIssue({
        code: 'custom',
        path: ['ack', 'dedupWindow'],
        input: o.ack.dedupWindow,
        message: `header-mode sequence numbers are 16-bit and wrap at 65536: dedupWindow must be at most ${MAX_HEADER_DEDUP}, or a new frame after the wrap would be dropped as a duplicate`,
      });
    }
  });
export type SerialLinkOptions = z.infer<typeof SerialLinkOptionsSchema>;
/** What a config file may contain (defaults not yet applied). */
export type SerialLinkOptionsInput = z.input<typeof SerialLinkOptionsSchema>;

export const SerialBridgeOptionsSchema = z.array(SerialLinkOptionsSchema).default([]).describe('Serial links');
