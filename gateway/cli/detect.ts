// `gatehouse detect [--detector NAME] [--param key=value ...] --input FILE.csv`
// Streams a `timestamp,value` CSV through a fresh detector (the same code the rules use) and
// writes `timestamp,value,anomaly_score`, one row per input row, honouring stdout backpressure.
// A row whose value is not a number is kept with score 0 (the detector does not see it) and
// reported once on stderr; anything else malformed (no file, bad header, bad args) exits 2.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { errorMessage } from '../../core/errors.js';
import { createDetector, DEFAULT_DETECTOR, detectorsHelp, finiteScore, type Detector, type ParamValue } from '../../rules/anomaly/index.js';
import type { CliIO } from './io.js';

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

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

export async function runDetect(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseArgs(argv);
  if (typeof parsed === 'string') {
    io.stderr.write(`gatehouse detect: ${parsed}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(`${USAGE}\n\nDetectors and params (--param key=value):\n${detectorsHelp()}\n`);
    return 0;
  }
  if (!parsed.input) {
    io.stderr.write(`gatehouse detect: --input FILE.csv is required\n${USAGE}\n`);
    return 2;
  }
  let det: Detector;
  try {
    det = createDetector(parsed.detector, parsed.params);
  } catch (err) {
    io.stderr.write(`gatehouse detect: ${errorMessage(err)}\n`);
    return 2;
  }
  // The CSV holds one value per row: a detector built for several inputs would score every row 0.
  if (det.inputs !== 1) {
    io.stderr.write(
      `gatehouse detect: --param inputs=${det.inputs}: the input CSV has one value per row (timestamp,value), so inputs must be 1; several inputs are for rules, e.g. anomaly_score(temp, oil)\n`,
    );
    return 2;
  }
  try {
    const st = await stat(parsed.input);
    if (!st.isFile()) throw new Error('not a regular file');
  } catch (err) {
    io.stderr.write(`gatehouse detect: cannot read input ${parsed.input}: ${errorMessage(err)}\n`);
    return 2;
  }
  const input = createReadStream(parsed.input, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
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
        if (header !== 'timestamp,value') {
          io.stderr.write(`gatehouse detect: ${parsed.input}:1: header must be 'timestamp,value', got '${raw.slice(0, 80)}'\n`);
          return 2;
        }
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
        io.stderr.write(`gatehouse detect: warning: ${parsed.input}:${lineNo}: value '${text.slice(0, 40)}' is not a number; row kept with score 0\n`);
      }
      await write(io.stdout, `${ts},${valueField},${score}\n`);
    }
  } catch (err) {
    // The reader of our output went away (`detect ... | head`): stop quietly, as Unix tools do.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    io.stderr.write(`gatehouse detect: reading ${parsed.input}: ${errorMessage(err)}\n`);
    return 2;
  } finally {
    lines.close();
    input.destroy();
  }
  if (lineNo === 0) {
    io.stderr.write(`gatehouse detect: ${parsed.input} is empty (expected a 'timestamp,value' header)\n`);
    return 2;
  }
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
