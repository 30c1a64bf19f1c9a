// Options of a `type: file` source (light: zod only, loaded with the config). Names follow Kinesis
// Agent's flow settings where one exists (initialPosition, multiLineStartPattern, skipHeaderLines,
// dataProcessingOptions), so an agent.json flow maps one to one.
import { z } from '../../../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../../../core/timer-delay.js';
import { sourceBaseSchema } from '../kind.js';
import { logMatchRegExp, multiLineStartRegExp, regexProblem } from './parsers/regex.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const fieldNames = z.array(z.string().min(1)).min(1);

/** A regular expression option: one that does not compile (as the source will build it) is refused here, with its key path. */
const regexOption = (build: (source: string) => RegExp) =>
  z
    .string()
    .min(1)
    .superRefine((source, ctx) => {
      const problem = regexProblem(source, build);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', input: source, message: problem });
    });

export const dataProcessingOptionSchema = z.discriminatedUnion('optionName', [
  z
    .strictObject({ optionName: z.literal('SINGLELINE') })
    .describe('Join a multi-line record into one line: newlines and leading/trailing spaces of each line removed.'),
  z.strictObject({
    optionName: z.literal('CSVTOJSON'),
    customFieldNames: fieldNames.describe('JSON keys, in column order. Missing columns become null, extra columns are dropped (both counted as parse errors).'),
    delimiter: z.string().min(1).default(',').describe('Column delimiter (a literal string; "\\t" for tab).'),
  }),
  z.strictObject({
    optionName: z.literal('LOGTOJSON'),
    logFormat: z
      .enum(['COMMONAPACHELOG', 'COMBINEDAPACHELOG', 'APACHEERRORLOG', 'SYSLOG', 'RFC3339SYSLOG', 'RFC3164SYSLOG', 'RFC5424SYSLOG'])
      .describe('Built-in log format.'),
    matchPattern: regexOption(logMatchRegExp)
      .optional()
      .describe("Regex replacing the format's own pattern (one capture group per field; anchored at both ends)."),
    customFieldNames: fieldNames.optional().describe("JSON keys replacing the format's own field names."),
  }),
  z.strictObject({ optionName: z.literal('ADDBRACKETS') }).describe('Wrap the record in { } (Kinesis Agent ADDBRACKETS).'),
  z
    .strictObject({
      optionName: z.literal('ADDMETADATA'),
      timestamp: z.boolean().default(true).describe('Add a "timestamp" field (ms since epoch).'),
      metadata: z.record(z.string(), z.unknown()).default({}).describe('Static fields added under "metadata".'),
    })
    .describe('Wrap the record as {"timestamp":..,"metadata":{..},"data":<record>} (Kinesis Agent ADDMETADATA).'),
]);
export type DataProcessingOption = z.output<typeof dataProcessingOptionSchema>;

export const fileSourceSchema = sourceBaseSchema
  .extend({
    type: z.literal('file'),
    paths: z
      .array(z.string().min(1))
      .min(1)
      .describe('Glob patterns of the files to tail, e.g. /var/log/app/*.log, /data/plc/**/*.csv (`*`, `?`, `[..]`, `**`).'),
    exclude: z
      .array(
        z
          .string()
          .min(1)
          // A path here (Fluent Bit's Exclude_Path takes them) was matched by its last part alone:
          // '/var/log/app/debug/*' left out every file, silently.
          .refine((g) => !g.includes('/'), {
            message: 'exclude takes file names (globs such as *.gz or debug-*.log), not paths; to leave a folder out, make paths not reach it',
          }),
      )
      .default(['*.gz', '*.bz2', '*.xz', '*.zst', '*.zip', '*.lz4'])
      .describe('File name globs never tailed (compressed rotated files by default); names only, not paths.'),
    topic: z
      .string()
      .min(1)
      .default('file/{name}')
      .superRefine((topic, ctx) => {
        // A placeholder the source does not fill would stay in every topic as written, and no rule's FROM would match it.
        for (const m of topic.matchAll(/\$?\{([^{}]*)\}/g)) {
          if (!['name', 'file', 'stem', 'dir', 'path'].includes(m[1]!)) {
            ctx.addIssue({
              code: 'custom',
              message: `${m[0]} is not a placeholder of a file source's topic: use {name}, {file}, {stem}, {dir} or {path} (or \${name} ...)`,
            });
          }
        }
      })
      .describe(
        'Topic template of the messages: {name} source name, {file} file name, {stem} file name without extension, {dir} parent folder name, {path} full path without the leading / (also written ${name} ..., as the other templates of the gateway). `+` and `#` in values become `_`.',
      ),
    initialPosition: z
      .preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(['start_of_file', 'end_of_file']))
      .default('end_of_file')
      .describe(
        'Where a file seen at the first start is read from: end_of_file (default) or start_of_file; START_OF_FILE / END_OF_FILE are accepted too. Files found later (created, or matched while running) are read from their start.',
      ),
    multiLineStartPattern: regexOption(multiLineStartRegExp)
      .optional()
      .describe('Regex matching the first line of a record; following lines that do not match join it.'),
    skipHeaderLines: z.number().int().min(0).default(0).describe('Lines skipped at the start of every file (CSV headers).'),
    dataProcessingOptions: z.array(dataProcessingOptionSchema).default([]).describe('Kinesis Agent processing options, applied in order.'),
    onParseError: z
      .enum(['raw', 'drop'])
      .default('raw')
      .describe(
        "A record LOGTOJSON cannot parse: raw = emit it unparsed (user property parse-error), drop = skip it (Kinesis Agent's behaviour). Counted either way.",
      ),
    maxLineBytes: z
      .number()
      .int()
      .min(64)
      .max(256 * MiB)
      .default(1 * MiB)
      .describe('Longer lines (or multi-line records) are cut to this many bytes; the rest up to the newline is skipped and counted.'),
    partialLineTimeoutMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(10_000)
      .describe('A last line without newline is emitted after this long without growth, with partialLineMarker appended (0 = wait forever).'),
    partialLineMarker: z
      .string()
      .default(' [partial]')
      .describe(
        'Appended to a line emitted without its newline (timeout) and to a cut line; not to the line CSVTOJSON or LOGTOJSON parse (the user property partial or cut marks it).',
      ),
    maxOpenFiles: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe(
        'Files read at once; more matching files wait (reported in status). A file read to its end and committed hands its slot to a waiting file: at once when it did not grow while open (rotated files, a backfill), after closeIdleMs for a live file.',
      ),
    scanIntervalMs: z
      .number()
      .int()
      .min(50)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(1000)
      .describe('Rescan of the globs and stat of every file (backstop to fs.watch events).'),
    readChunkBytes: z
      .number()
      .int()
      .min(4 * KiB)
      .max(16 * MiB)
      .default(256 * KiB)
      .describe('Bytes read per read() call.'),
    maxInFlightBytes: z
      .number()
      .int()
      .min(64 * KiB)
      .default(8 * MiB)
      .describe('Bytes submitted and not yet committed per source before reading pauses (backpressure).'),
    fingerprintBytes: z
      .number()
      .int()
      .min(16)
      .max(64 * KiB)
      .default(1024)
      .describe('Bytes at the start of a file hashed into its identity (with device and inode, since inodes are reused).'),
    encoding: z
      .enum(['utf8', 'latin1'])
      .default('utf8')
      .describe(
        'Text encoding for multiLineStartPattern and dataProcessingOptions (lines without them pass through as bytes). Invalid UTF-8 is counted; when decoded it becomes U+FFFD.',
      ),
    rotateWaitMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(5000)
      .describe(
        'A renamed or deleted file is read through its open handle until it has been quiet this long (writers keep writing to it until they reopen), then closed.',
      ),
    closeIdleMs: z
      .number()
      .int()
      .min(1000)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(60_000)
      .describe(
        'A file that grew while open (a live file), at its end with no growth for this long, is closed while other files wait for a slot (reopened when it grows). A file that did not grow while open gives its slot up at its end without waiting.',
      ),
  })
  .describe('Tail files (logs, CSV) into the rules, committing each file offset with the records read.');

export type FileSourceOptions = z.output<typeof fileSourceSchema>;
export type FileSourceOptionsInput = z.input<typeof fileSourceSchema>;
