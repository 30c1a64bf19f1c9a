// A YAML or JSON syntax error as Gatehouse reports it: the parser's reason, and its position once,
// apart, for `where` (file:line:col). The yaml package's message already ends with the position and
// an excerpt of the text ("... end with a ] at line 4, column 1:\n\n<lines>\n^"), and JSON.parse's
// with an offset ("... in JSON at position 8"): printed with a where, the position came twice.

export interface SyntaxProblem {
  /** What is wrong, without the position. */
  reason: string;
  /** 1-based line and column, when the parser gave one. */
  line?: number;
  col?: number;
}

const YAML_POSITION = / at line (\d+), column (\d+):?$/;

/** A yaml package error (YAMLParseError, a document's errors[i]). */
export function yamlSyntaxProblem(err: unknown): SyntaxProblem {
  const e = err as { message?: unknown; linePos?: Array<{ line: number; col: number }> };
  const first = String(e?.message ?? err).split('\n')[0] ?? '';
  const m = YAML_POSITION.exec(first);
  const at = e?.linePos?.[0] ?? (m ? { line: Number(m[1]), col: Number(m[2]) } : undefined);
  return { reason: m ? first.slice(0, m.index) : first, ...(at ? { line: at.line, col: at.col } : {}) };
}

const JSON_POSITION = / at position (\d+)(?: \(line \d+ column \d+\))?/;

/** A JSON.parse error of `text`: its offset made a line and column. */
export function jsonSyntaxProblem(err: unknown, text: string): SyntaxProblem {
  const message = err instanceof Error ? err.message : String(err);
  const m = JSON_POSITION.exec(message);
  if (!m) return { reason: message };
  const offset = Math.min(Number(m[1]), text.length);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { reason: message.slice(0, m.index) + message.slice(m.index + m[0].length), line, col: offset - before.lastIndexOf('\n') };
}

/** `file:line:col`, or the file alone without a position. */
export function positionIn(file: string, p: SyntaxProblem): string {
  return p.line === undefined ? file : `${file}:${p.line}:${p.col}`;
}
