// Tokenizer for AWS IoT SQL. Keywords are plain identifiers here; the parser decides (SQL keywords
// are case-insensitive and several, like VALUE or LIMIT, are only keywords in some positions).
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { Pos } from './ast.js';

export type TokenType = 'ident' | 'qident' | 'var' | 'string' | 'number' | 'punct' | 'eof';

export interface Token {
  type: TokenType;
  /** Identifier / string content / punctuation text / number source. */
  text: string;
  /** For numbers: the value; isInt tells Int (no '.', no exponent) from Decimal. */
  num?: number;
  isInt?: boolean;
  pos: Pos;
  /** Offset just past the token. */
  end: number;
}

const PUNCT2 = new Set(['<>', '!=', '<=', '>=']);
const PUNCT1 = new Set(['(', ')', '[', ']', '{', '}', ',', '.', ':', '+', '-', '*', '/', '%', '=', '<', '>']);

const TYPOGRAPHIC_QUOTE = 'a typographic quote (text copied from a document or web page?): write a straight quote \' (or ")';
const TYPOGRAPHIC_DASH = 'a typographic dash (text copied from a document or web page?): write the minus sign -';

/** How to fix a character AWS IoT SQL does not have (the characters other SQL dialects and documents bring along). */
const UNEXPECTED_HINTS: Record<string, string> = {
  '\u2018': TYPOGRAPHIC_QUOTE,
  '\u2019': TYPOGRAPHIC_QUOTE,
  '\u201c': TYPOGRAPHIC_QUOTE,
  '\u201d': TYPOGRAPHIC_QUOTE,
  '\u00b4': TYPOGRAPHIC_QUOTE,
  '\u2013': TYPOGRAPHIC_DASH,
  '\u2014': TYPOGRAPHIC_DASH,
  '\u2212': TYPOGRAPHIC_DASH,
  ';': "a statement has no ';' terminator: remove it (one rule holds one statement)",
  '&&': 'write AND',
  '&': 'write AND for a logical and, bitand(a, b) for a bitwise one',
  '|': 'write OR for a logical or, bitor(a, b) for a bitwise one',
  '^': 'write bitxor(a, b) for a bitwise xor, power(x, y) for a power',
  '~': 'write bitnot(x) for a bitwise not, regexp_matches(s, pattern) to match a pattern',
  '!': 'write NOT (or <> / != for not equal)',
  '@': 'a variable is @ followed by letters, digits and _ (up to 64), e.g. @celsius',
  '?': 'AWS IoT SQL has no parameters: write the value, or a ${...} template in the action',
};

export function describeToken(t: Token): string {
  switch (t.type) {
    case 'eof':
      return 'end of statement';
    case 'string':
      return `string '${t.text}'`;
    case 'number':
      return `number ${t.text}`;
    case 'qident':
      return `\`${t.text}\``;
    case 'var':
      return `@${t.text}`;
    case 'ident':
      return `'${t.text}'`;
    default:
      return `'${t.text}'`;
  }
}

export class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: Token | undefined;

  constructor(readonly src: string) {}

  posAt(offset: number): Pos {
    // Only used for error positions computed from offsets behind the cursor.
    let line = 1;
    let ls = 0;
    for (let k = 0; k < offset && k < this.src.length; k++) {
      if (this.src.charCodeAt(k) === 10) {
        line++;
        ls = k + 1;
      }
    }
    return { line, column: offset - ls + 1, offset };
  }

  private here(): Pos {
    return { line: this.line, column: this.i - this.lineStart + 1, offset: this.i };
  }

  private skipSpace(): void {
    const s = this.src;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 10) {
        this.i++;
        this.line++;
        this.lineStart = this.i;
      } else if (c === 32 || c === 9 || c === 13) {
        this.i++;
      } else {
        break;
      }
    }
  }

  peek(): Token {
    if (!this.peeked) this.peeked = this.read();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  /**
   * FROM accepts an unquoted topic filter (`FROM topic/#`): read raw characters up to whitespace.
   * Returns undefined when the next thing is a quoted string (the normal form).
   */
  rawTopic(): Token | undefined {
    if (this.peeked) {
      if (this.peeked.type === 'string') return undefined;
      // Rewind: the raw scan starts where the peeked token started.
      this.i = this.peeked.pos.offset;
      this.peeked = undefined;
    }
    this.skipSpace();
    const pos = this.here();
    const s = this.src;
    const c0 = s[this.i];
    if (c0 === "'" || c0 === '"') return undefined;
    const start = this.i;
    // Nothing left: the statement ended where a topic was expected (an error says so).
    if (start >= s.length) return { type: 'eof', text: '', pos, end: start };
    while (this.i < s.length && !/\s/.test(s[this.i]!) && s[this.i] !== ')') this.i++;
    const text = s.slice(start, this.i);
    // FROM ‘a/b’ (quotes from a word processor) would be read as the filter "‘a/b’", which matches
    // no message: the rule would load and never run. A quote in an unquoted filter is refused.
    const q = /[\u2018\u2019\u201c\u201d\u00b4`]/.exec(text);
    if (q) {
      throw this.err(
        `the topic filter ${text} holds the character ${q[0]}, which is no quote of AWS IoT SQL: the filter would be read with it and match nothing`,
        this.posAt(start + q.index),
        "write the filter between straight quotes, e.g. FROM 'sensors/+/temp'",
      );
    }
    return { type: 'string', text, pos, end: this.i };
  }

  private err(msg: string, pos: Pos, hint?: string): GatehouseError {
    return ERRORS.GH_SQL_SYNTAX({ reason: msg }, { where: `line ${pos.line}, column ${pos.column}`, hint });
  }

  private read(): Token {
    this.skipSpace();
    const s = this.src;
    const pos = this.here();
    if (this.i >= s.length) return { type: 'eof', text: '', pos, end: this.i };
    const c = s[this.i]!;
    // identifiers
    if (/[A-Za-z_$]/.test(c)) {
      const start = this.i;
      while (this.i < s.length && /[A-Za-z0-9_$]/.test(s[this.i]!)) this.i++;
      return { type: 'ident', text: s.slice(start, this.i), pos, end: this.i };
    }
    // variables of the SET clause: @name
    if (c === '@') {
      const m = /^[A-Za-z0-9_]{1,64}(?![A-Za-z0-9_])/.exec(s.slice(this.i + 1, this.i + 66));
      if (m) {
        this.i += 1 + m[0].length;
        return { type: 'var', text: m[0], pos, end: this.i };
      }
    }
    if (c === '`') {
      const close = s.indexOf('`', this.i + 1);
      if (close < 0) throw this.err('unterminated `quoted identifier`', pos, 'close it with a backquote');
      const text = s.slice(this.i + 1, close);
      this.advanceTo(close + 1);
      return { type: 'qident', text, pos, end: this.i };
    }
    if (c === "'" || c === '"') return this.readString(c, pos);
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[this.i + 1] ?? ''))) {
      const m = /^(\d*\.?\d*)([eE][+-]?\d+)?/.exec(s.slice(this.i, this.i + 400));
      const text = m ? m[0] : c;
      if (m && m[2] === undefined && /[eE]/.test(s[this.i + text.length] ?? '')) {
        throw this.err(`malformed number '${text}${s[this.i + text.length]}'`, pos, 'an exponent needs digits, e.g. 1e5');
      }
      this.i += text.length;
      if (/[A-Za-z_]/.test(s[this.i] ?? '')) {
        throw this.err(`malformed number '${text}${s[this.i]}'`, pos, 'separate numbers from names with a space or operator');
      }
      const isInt = !text.includes('.') && !/[eE]/.test(text);
      return { type: 'number', text, num: Number(text), isInt, pos, end: this.i };
    }
    const two = s.slice(this.i, this.i + 2);
    if (two === '--' || two === '/*') {
      // Read as operators, `x = 1 -- note` would silently be 1 - (-note): refused instead.
      throw this.err(
        `'${two}' starts a comment in SQL, and AWS IoT SQL has no comments`,
        pos,
        "remove the comment (a rule's description holds notes); to subtract a negative number write a - (-1)",
      );
    }
    if (PUNCT2.has(two)) {
      this.i += 2;
      return { type: 'punct', text: two === '!=' ? '<>' : two, pos, end: this.i };
    }
    if (PUNCT1.has(c)) {
      this.i++;
      return { type: 'punct', text: c, pos, end: this.i };
    }
    if (two === '||') {
      throw this.err(
        "'||' is not an AWS IoT SQL operator",
        pos,
        'concatenate with + or concat(): a String on either side of + concatenates (\'a\' + 1 is "a1")',
      );
    }
    throw this.err(`unexpected character '${c}'`, pos, UNEXPECTED_HINTS[two === '&&' ? '&&' : c]);
  }

  private advanceTo(j: number): void {
    for (let k = this.i; k < j; k++) {
      if (this.src.charCodeAt(k) === 10) {
        this.line++;
        this.lineStart = k + 1;
      }
    }
    this.i = j;
  }

  /**
   * Strings: '...' or "...". A quote is escaped by doubling it ('it''s') or with a backslash (\');
   * \\ is a backslash. Other backslash sequences are kept verbatim so regular expressions such
   * as '\d+' reach the regex engine unchanged (recorded in docs/rules-sql.md).
   */
  private readString(q: string, pos: Pos): Token {
    const s = this.src;
    let out = '';
    let j = this.i + 1;
    for (;;) {
      if (j >= s.length) throw this.err('unterminated string literal', pos, `close it with ${q}`);
      const ch = s[j]!;
      if (ch === '\\' && (s[j + 1] === q || s[j + 1] === '\\')) {
        out += s[j + 1];
        j += 2;
      } else if (ch === q) {
        if (s[j + 1] === q) {
          out += q;
          j += 2;
        } else {
          j++;
          break;
        }
      } else {
        out += ch;
        j++;
      }
    }
    this.advanceTo(j);
    return { type: 'string', text: out, pos, end: this.i };
  }
}
