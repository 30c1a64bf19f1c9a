// `gatehouse detect [--detector NAME] [--param key=value ...] --input FILE.csv`
// Streams a `timestamp,value` CSV through a fresh detector (the same code the rules use) and
// writes `timestamp,value,anomaly_score`, one row per input row, honouring stdout backpressure.
// A row whose value is not a number is kept with score 0 (the detector does not see it) and
// reported once on stderr; anything else malformed exits 2 with a code: bad arguments
// GH_ARG_INVALID, a detector or param GH_DETECTOR_PARAM, the CSV (missing, not a file, empty, its
// header) GH_INPUT_FILE.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { ERRORS, GatehouseError, errorMessage } from '../../core/errors.js';
import { createDetector, DEFAULT_DETECTOR, detectorsHelp, finiteScore, type Detector, type ParamValue } from '../../rules/anomaly/index.js';
import type { CliIO } from './io.js';
import { LineTooLong, lineLimit } from './line-limit.js';

const USAGE = 'usage: gatehouse detect [--detector NAME] [--param key=value ...] --input FILE.csv';

interface DetectArgs {
  help: boolean;
  detector: string;
  params: Record<string, ParamValue>;
  input: string | undefined;
}

function parseArgs(argv: string[]): DetectArgs | string {
  const args: DetectArgs = { help: false, detector: DEFAULT_DETECTOR, params: {}, input: undefined };
  const list = argv[0] === 'detect' ? argv.slice(1) : argv;
  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const next = (): string | undefined => inline ?? list[++i];
    if (flag === '--help' || flag === '-h') args.help = true;
    else if (flag === '--detector') {
      const v = next();
      if (!v) return '--detector needs a name';
      args.detector = v;
    } else if (flag === '--input') {
      const v = next();
      if (!v) return '--input needs a file path';
      args.input = v;
    } else if (flag === '--param') {
      const v = next();
      const at = v ? v.indexOf('=') : -1;
      if (!v || at <= 0) return `--param needs key=value (e.g. --param window=100), got '${v ?? ''}'`;
      args.params[v.slice(0, at)] = v.slice(at + 1);
    } else return `unknown argument '${a}'`;
  }
  return args;
}

/** Longest line read (a row is a timestamp and a number: tens of bytes). */
const MAX_LINE_BYTES = 1024 * 1024;

/** What the command reads and prints (--help; the hint of GH_INPUT_FILE sends users there). */
const ABOUT = [
  'Scores a time series offline with the detectors the rules run (anomaly_score, is_anomaly).',
  "FILE.csv: the header 'timestamp,value', then one timestamp and one number per row (two spreadsheet",
  "columns saved as CSV). Prints 'timestamp,value,anomaly_score', one row per input row; a row whose",
  'value is not a number is kept with score 0. Exit 0, or 2 for bad arguments or an input it cannot use.',
].join('\n');

/** What the CSV must look like, for the hint of an input it cannot use. */
const FORMAT_HINT = "the first line is the header 'timestamp,value', then one timestamp and one number per row (e.g. two spreadsheet columns saved as CSV)";

/** An input error: its code, where and fix on one line (exit 2, README "Exit codes"). */
function fail(io: CliIO, err: GatehouseError): number {
  io.stderr.write(`gatehouse detect: ${err.describe()}\n`);
  return 2;
}

const usageError = (reason: string): GatehouseError => ERRORS.GH_ARG_INVALID({ reason }, { hint: USAGE });

const inputError = (file: string, reason: string, where: string, hint: string): GatehouseError => ERRORS.GH_INPUT_FILE({ file, reason }, { where, hint });

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

export async function runDetect(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseArgs(argv);
  if (typeof parsed === 'string') return fail(io, usageError(parsed));
  if (parsed.help) {
    io.stdout.write(`${USAGE}\n\n${ABOUT}\n\nDetectors and params (--param key=value):\n${detectorsHelp()}\n`);
    return 0;
  }
  if (!parsed.input) return fail(io, usageError('--input FILE.csv is required'));
  let det: Detector;
  try {
    det = createDetector(parsed.detector, parsed.params);
  } catch (err) {
    // createDetector's errors are GH_DETECTOR_PARAM, naming the detector and param.
    if (err instanceof GatehouseError) return fail(io, err);
    throw err;
  }
  // The CSV holds one value per row: a detector built for several inputs would score every row 0.
  if (det.inputs !== 1) {
    return fail(
      io,
      ERRORS.GH_DETECTOR_PARAM(
        { reason: `--param inputs=${det.inputs}: the input CSV has one value per row (timestamp,value), so inputs must be 1` },
        { where: `detector ${parsed.detector}, param inputs`, hint: 'leave inputs out (1); several inputs are for rules, e.g. anomaly_score(temp, oil)' },
      ),
    );
  }
  const file = parsed.input;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error(st.isDirectory() ? 'a directory, not a file' : 'not a regular file');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(err);
    return fail(io, inputError(file, reason, '--input', 'check the path (relative to the working directory) and its permissions'));
  }
  const input = createReadStream(file);
  // readline holds a whole line: a file that is not the CSV (no line breaks) is refused at 1 MiB of one.
  const limited = lineLimit(MAX_LINE_BYTES);
  input.on('error', (err) => limited.destroy(err));
  const lines = createInterface({ input: input.pipe(limited), crlfDelay: Infinity });
  let lineNo = 0;
  let badRows = 0;
  let firstBad = 0;
  try {
    for await (const raw of lines) {
      lineNo++;
      if (lineNo === 1) {
        const header = raw
          .replace(/^\uFEFF/, '')
          .trim()
          .toLowerCase();
        if (header !== 'timestamp,value')
          return fail(io, inputError(file, `header must be 'timestamp,value', got '${raw.slice(0, 80)}'`, `${file}:1`, FORMAT_HINT));
        await write(io.stdout, 'timestamp,value,anomaly_score\n');
        continue;
      }
      if (raw.length === 0) continue;
      const { ts, valueField, text } = splitRow(raw);
      const value = text === '' ? NaN : Number(text);
      let score = 0;
      // Beyond a double: the largest finite number, as the SQL functions give it (it was Infinity).
      if (Number.isFinite(value)) score = finiteScore(det.update(value));
      else if (badRows++ === 0) {
        firstBad = lineNo;
        io.stderr.write(`gatehouse detect: warning: ${file}:${lineNo}: value '${text.slice(0, 40)}' is not a number; row kept with score 0\n`);
      }
      await write(io.stdout, `${ts},${valueField},${score}\n`);
    }
  } catch (err) {
    // The reader of our output went away (`detect ... | head`): stop quietly, as Unix tools do.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    if (err instanceof LineTooLong) return fail(io, inputError(file, `${err.message}: not a 'timestamp,value' CSV`, `${file}:${err.line}`, FORMAT_HINT));
    return fail(
      io,
      inputError(
        file,
        `reading failed at line ${lineNo + 1}: ${errorMessage(err)}`,
        `${file}:${lineNo + 1}`,
        "check the file's permissions (the user running gatehouse may not read it) and the disk it is on",
      ),
    );
  } finally {
    lines.close();
    input.destroy();
    limited.destroy();
  }
  if (lineNo === 0) return fail(io, inputError(file, "the file is empty (expected a 'timestamp,value' header)", file, FORMAT_HINT));
  if (badRows > 1) {
    io.stderr.write(`gatehouse detect: warning: ${badRows} rows with a non-numeric value kept with score 0 (first at line ${firstBad})\n`);
  }
  return 0;
}

/** A field as CSV writes it: quoted (quotes doubled) when it holds a comma, a quote or a line break. */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * One `timestamp,value` row, with RFC 4180 quoting as spreadsheets export it ("Jan 1, 2024 00:00",
 * "20.5"): the timestamp field as written, the value's text unquoted, and the value field to write
 * back (as written when it is one field; re-quoted when the row has more columns, so the output
 * row stays three columns).
 */
function splitRow(raw: string): { ts: string; valueField: string; text: string } {
  let end = raw.indexOf(',');
  if (raw.startsWith('"')) {
    // A quoted timestamp ends at its closing quote ("" is a quote inside it).
    let i = 1;
    while (i < raw.length && !(raw[i] === '"' && raw[i + 1] !== '"')) i += raw[i] === '"' ? 2 : 1;
    end = raw.indexOf(',', i);
  }
  if (end < 0) return { ts: raw, valueField: '', text: '' };
  const field = raw.slice(end + 1).trim();
  const quoted = /^"((?:[^"]|"")*)"$/.exec(field);
  if (quoted) return { ts: raw.slice(0, end), valueField: field, text: quoted[1]!.replaceAll('""', '"').trim() };
  return { ts: raw.slice(0, end), valueField: csvField(field), text: field };
}
