// What a split record becomes: the message handed to the intake (topic from the template, payload
// through the Kinesis Agent processing options, markers and user properties for cut and partial
// lines), with the per-file and per-source counters of what it saw (invalid UTF-8, parse errors).
import { isUtf8 } from 'node:buffer';
import { basename, dirname, extname, sep } from 'node:path';
import type { Message } from '../../../../core/message.js';
import type { FileSourceOptions } from './options.js';
import type { SplitRecord } from './splitter.js';
import type { FileTracker } from './tracker.js';
import type { FileCounter } from './metrics.js';
import { buildChain, type ChainResult } from './parsers/converters.js';

/**
 * The topic of a file's records: `{name}`, `{file}`, `{stem}`, `{dir}`, `{path}` filled in, also
 * written `${name}` ... as every other template of the gateway is.
 */
export function topicFor(template: string, sourceName: string, path: string): string {
  const file = basename(path);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is not allowed in MQTT topics (MQTT-4.7.3-2), so it is replaced
  const clean = (v: string): string => v.replace(/[+#\u0000]/g, '_');
  const values: Record<string, string> = {
    name: sourceName,
    file,
    stem: file.slice(0, file.length - extname(file).length) || file,
    dir: basename(dirname(path)),
    path: path.split(sep).filter(Boolean).join('/'),
  };
  return template.replace(/\$?\{(name|file|stem|dir|path)\}/g, (_, k: string) => clean(values[k]!));
}

/** Options that read fields out of the line: a marker appended to the line would be read as data. */
const FIELD_PARSERS = new Set(['CSVTOJSON', 'LOGTOJSON']);

export class RecordEncoder {
  private readonly chain: ((text: string, now: number) => ChainResult) | undefined;
  private readonly marker: Buffer;
  /**
   * Whether the marker goes into the text the options convert. Not for CSVTOJSON or LOGTOJSON: the
   * last row of a CSV file saved without a final newline (Excel, many Windows tools) became
   * {"temp":"21 [partial]"}, and a rule comparing temp met a string. The user property
   * (partial, cut) still marks the record.
   */
  private readonly markBeforeChain: boolean;

  constructor(
    private readonly options: Pick<FileSourceOptions, 'dataProcessingOptions' | 'onParseError' | 'partialLineMarker' | 'encoding'>,
    private readonly count: (c: FileCounter) => void,
  ) {
    this.chain = options.dataProcessingOptions.length > 0 ? buildChain(options.dataProcessingOptions, options.onParseError) : undefined;
    this.marker = Buffer.from(options.partialLineMarker);
    this.markBeforeChain = !options.dataProcessingOptions.some((o) => FIELD_PARSERS.has(o.optionName));
  }

  /** The message of a record, or undefined when the processing options drop it. */
  message(t: FileTracker, r: SplitRecord, now: number): Message | undefined {
    let payload = r.payload;
    const props: Record<string, string> = {};
    if (!isUtf8(payload)) {
      t.invalidUtf8++;
      this.count('invalidUtf8');
    }
    const marked = r.partial === true || r.cut === true;
    if (r.cut) props.cut = 'true';
    if (r.partial) {
      props.partial = 'true';
      t.partialLines++;
      this.count('partialLines');
    }
    if (this.chain) {
      const text = payload.toString(this.options.encoding);
      const res = this.chain(text + (marked && this.markBeforeChain ? this.options.partialLineMarker : ''), now);
      // A line the parser could not read, kept as written (onParseError: raw): marked as a raw line is.
      if (marked && !this.markBeforeChain && res.error !== undefined && res.text === text) res.text += this.options.partialLineMarker;
      if (res.error !== undefined) {
        t.parseErrors++;
        this.count('parseErrors');
        props['parse-error'] = res.error.slice(0, 200);
      }
      if (res.text === undefined) return undefined;
      payload = Buffer.from(res.text);
    } else if (marked && this.marker.length > 0) payload = Buffer.concat([payload, this.marker]);
    if (r.cut) this.count('linesCut');
    const message: Message = { topic: t.topic, payload, qos: 1, source: { kind: 'file', id: t.path }, receivedAt: now };
    if (Object.keys(props).length > 0) message.properties = { userProperties: props };
    return message;
  }
}
