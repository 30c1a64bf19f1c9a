// The expression half of the AWS IoT SQL parser (parser.ts has the statements): a Pratt parser
// over the lexer's tokens (binary operators by binding power, NOT IN, member access and indexing,
// literals, object and array constructors, calls with OVER, CAST, CASE), and the token helpers
// both halves use. A nested `(SELECT ...)` is the statement grammar's: parseSelect is abstract
// here so that this module does not import parser.ts. Every syntax error is a GH_SQL_SYNTAX
// GatehouseError with `where: 'line L, column C'` and what was expected.
import { ERRORS } from '../../core/errors.js';
import type { BinaryOp, Expr, OverClause, Pos, SelectQuery } from './ast.js';
import { Lexer, describeToken, type Token } from './lexer.js';

/** Words that can never be field names (use `backquotes` or get(*, 'name') for such fields). */
export const RESERVED = new Set(['SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END', 'AS', 'IN', 'TRUE', 'FALSE', 'NULL']);

const BP: Record<string, number> = {
  OR: 10,
  AND: 20,
  '=': 40,
  '<>': 40,
  '<': 40,
  '<=': 40,
  '>': 40,
  '>=': 40,
  IN: 40,
  '+': 50,
  '-': 50,
  '*': 60,
  '/': 60,
  '%': 60,
};
const NOT_BP = 30;
const UNARY_BP = 70;

function where(pos: Pos): string {
  return `line ${pos.line}, column ${pos.column}`;
}

/** The token helpers and the expression grammar; parser.ts's Parser adds the statements. */
export abstract class ExprParser {
  protected readonly lx: Lexer;

  constructor(readonly src: string) {
    this.lx = new Lexer(src);
  }

  /** A nested `(SELECT ...)` (topLevel false): the statement grammar, parser.ts. */
  protected abstract parseSelect(topLevel: boolean): SelectQuery;

  protected fail(msg: string, pos: Pos, hint?: string): never {
    throw ERRORS.GH_SQL_SYNTAX({ reason: msg }, { where: where(pos), hint });
  }

  protected expected(what: string, t: Token = this.lx.peek(), hint?: string): never {
    this.fail(`expected ${what}, found ${describeToken(t)}`, t.pos, hint ?? this.guessHint(t));
  }

  /** How to fix the constructs of other SQL dialects that AWS IoT SQL writes otherwise. */
  private guessHint(t: Token): string | undefined {
    if (t.type === 'eof') return 'the statement ends too early: complete the expression (an operator, AND/OR or a comma needs something after it)';
    if (t.type === 'ident') {
      switch (t.text.toUpperCase()) {
        case 'LIKE':
          return "AWS IoT SQL has no LIKE: match a regular expression, e.g. regexp_matches(name, '^pump')";
        case 'BETWEEN':
          return 'AWS IoT SQL has no BETWEEN: write x >= low AND x <= high';
        case 'IS':
          return 'AWS IoT SQL has no IS [NOT] NULL: write isNull(x) for a null value, isUndefined(x) for a missing field (NOT isNull(x) for IS NOT NULL)';
      }
      return undefined;
    }
    if (t.type === 'punct' && t.text === '=' && this.src[t.pos.offset - 1] === '=') return 'compare with a single = (AWS IoT SQL has no ==)';
    return undefined;
  }

  protected isKw(t: Token, kw: string): boolean {
    return t.type === 'ident' && t.text.length === kw.length && t.text.toUpperCase() === kw;
  }

  protected acceptKw(kw: string): Token | undefined {
    const t = this.lx.peek();
    if (this.isKw(t, kw)) return this.lx.next();
    return undefined;
  }

  protected expectKw(kw: string, hint?: string): Token {
    const t = this.lx.peek();
    if (!this.isKw(t, kw)) this.expected(kw, t, hint);
    return this.lx.next();
  }

  protected isPunct(t: Token, p: string): boolean {
    return t.type === 'punct' && t.text === p;
  }

  protected acceptPunct(p: string): Token | undefined {
    const t = this.lx.peek();
    if (this.isPunct(t, p)) return this.lx.next();
    return undefined;
  }

  protected expectPunct(p: string, hint?: string): Token {
    const t = this.lx.peek();
    if (!this.isPunct(t, p)) this.expected(`'${p}'`, t, hint);
    return this.lx.next();
  }

  protected parseExprList(): Expr[] {
    const out = [this.parseExpr(0)];
    while (this.acceptPunct(',')) out.push(this.parseExpr(0));
    return out;
  }

  parseExpr(minBp: number): Expr {
    return this.parseInfix(this.parsePrefix(), minBp);
  }

  private binaryOp(t: Token): BinaryOp | undefined {
    if (t.type === 'punct' && BP[t.text] !== undefined) return t.text as BinaryOp;
    if (t.type === 'ident') {
      const u = t.text.toUpperCase();
      if (u === 'AND' || u === 'OR' || u === 'IN') return u;
    }
    return undefined;
  }

  protected parseInfix(left: Expr, minBp: number): Expr {
    for (;;) {
      const t = this.lx.peek();
      // postfix: member access and indexing bind tightest
      if (this.isPunct(t, '.')) {
        this.lx.next();
        const n = this.lx.next();
        if (n.type !== 'ident' && n.type !== 'qident') this.expected("a field name after '.'", n);
        left = { kind: 'member', object: left, name: n.text, pos: n.pos };
        continue;
      }
      if (this.isPunct(t, '[')) {
        this.lx.next();
        const index = this.parseExpr(0);
        this.expectPunct(']');
        left = { kind: 'index', object: left, index, pos: t.pos };
        continue;
      }
      // `a NOT IN b`
      if (this.isKw(t, 'NOT') && minBp < BP.IN!) {
        this.lx.next();
        const inTok = this.lx.peek();
        if (!this.isKw(inTok, 'IN')) this.expected('IN after NOT', inTok);
        this.lx.next();
        const right = this.parseExpr(BP.IN! + 1);
        left = { kind: 'unary', op: 'NOT', operand: { kind: 'binary', op: 'IN', left, right, pos: inTok.pos }, pos: t.pos };
        continue;
      }
      const op = this.binaryOp(t);
      if (!op) return left;
      const bp = BP[op]!;
      if (bp <= minBp) return left;
      this.lx.next();
      const right = this.parseExpr(bp);
      left = { kind: 'binary', op, left, right, pos: t.pos };
    }
  }

  private parsePrefix(): Expr {
    const t = this.lx.next();
    switch (t.type) {
      case 'number':
        return t.isInt ? { kind: 'literal', value: t.num!, pos: t.pos } : { kind: 'literal', value: t.num!, decimal: true, pos: t.pos };
      case 'string':
        return { kind: 'literal', value: t.text, pos: t.pos };
      case 'qident':
        return { kind: 'field', name: t.text, pos: t.pos };
      case 'var':
        return { kind: 'var', name: t.text, pos: t.pos };
      case 'eof':
        return this.expected('an expression', t);
      case 'punct':
        return this.parsePunctPrefix(t);
      case 'ident':
        return this.parseIdentPrefix(t);
    }
  }

  private parsePunctPrefix(t: Token): Expr {
    switch (t.text) {
      case '-': {
        const operand = this.parseExpr(UNARY_BP);
        // A negative literal keeps its type (-2.0 is a Decimal); -0 is written 0.
        if (operand.kind === 'literal' && typeof operand.value === 'number') return { ...operand, value: operand.value === 0 ? 0 : -operand.value, pos: t.pos };
        return { kind: 'unary', op: '-', operand, pos: t.pos };
      }
      case '+':
        return this.parseExpr(UNARY_BP);
      case '(': {
        if (this.isKw(this.lx.peek(), 'SELECT')) {
          const query = this.parseSelect(false);
          this.expectPunct(')', 'close the nested SELECT with )');
          return { kind: 'select', query, pos: t.pos };
        }
        const e = this.parseExpr(0);
        if (this.isPunct(this.lx.peek(), ',')) {
          this.expected("')'", this.lx.peek(), 'AWS IoT SQL writes a list in brackets: [a, b, c] (e.g. x IN [1, 2, 3])');
        }
        this.expectPunct(')', `close the ( opened at ${where(t.pos)}`);
        return e;
      }
      case '{': {
        const entries: Array<{ key: string; value: Expr }> = [];
        if (!this.acceptPunct('}')) {
          for (;;) {
            const k = this.lx.next();
            if (k.type !== 'string' && k.type !== 'ident' && k.type !== 'qident') this.expected('an object key (a string)', k);
            this.expectPunct(':');
            entries.push({ key: k.text, value: this.parseExpr(0) });
            if (this.acceptPunct('}')) break;
            if (!this.acceptPunct(',')) this.expected("',' or '}'", this.lx.peek());
          }
        }
        return { kind: 'object', entries, pos: t.pos };
      }
      case '[': {
        const items: Expr[] = [];
        if (!this.acceptPunct(']')) {
          for (;;) {
            items.push(this.parseExpr(0));
            if (this.acceptPunct(']')) break;
            if (!this.acceptPunct(',')) this.expected("',' or ']'", this.lx.peek(), `close the [ opened at ${where(t.pos)}`);
          }
        }
        return { kind: 'array', items, pos: t.pos };
      }
      default:
        this.expected('an expression', t);
    }
  }

  private parseIdentPrefix(t: Token): Expr {
    const u = t.text.toUpperCase();
    if (u === 'TRUE') return { kind: 'literal', value: true, pos: t.pos };
    if (u === 'FALSE') return { kind: 'literal', value: false, pos: t.pos };
    if (u === 'NULL') return { kind: 'literal', value: null, pos: t.pos };
    if (u === 'NOT') return { kind: 'unary', op: 'NOT', operand: this.parseExpr(NOT_BP), pos: t.pos };
    if (u === 'CASE') return this.parseCase(t);
    if (this.isPunct(this.lx.peek(), '(')) {
      this.lx.next();
      if (u === 'CAST') return this.parseCast(t);
      const args: Expr[] = [];
      if (!this.acceptPunct(')')) {
        for (;;) {
          const a = this.lx.peek();
          if (this.isPunct(a, '*')) {
            this.lx.next();
            args.push({ kind: 'star', pos: a.pos });
          } else {
            args.push(this.parseExpr(0));
          }
          if (this.acceptPunct(')')) break;
          if (!this.acceptPunct(',')) this.expected("',' or ')'", this.lx.peek(), `separate the arguments of ${t.text}() with ',' or close with ')'`);
        }
      }
      const call: Expr = { kind: 'call', name: t.text, args, pos: t.pos };
      const o = this.lx.peek();
      if (this.isKw(o, 'OVER')) {
        this.lx.next();
        call.over = this.parseOver(o.pos);
      }
      return call;
    }
    if (RESERVED.has(u)) {
      this.expected('an expression', t, `an expression is missing before ${u}; a field named ${t.text} is written in backquotes: \`${t.text}\``);
    }
    return { kind: 'field', name: t.text, pos: t.pos };
  }

  private parseOver(pos: Pos): OverClause {
    this.expectPunct('(');
    const partitionBy: Expr[] = [];
    if (this.acceptKw('PARTITION')) {
      this.expectKw('BY');
      partitionBy.push(...this.parseExprList());
    }
    // OVER takes PARTITION BY or nothing: a word there is most often PARTITION misspelt.
    this.expectPunct(')', 'write OVER (PARTITION BY key, ...) for one detector per key, or OVER () for one for the rule');
    return { partitionBy, pos };
  }

  private parseCast(t: Token): Expr {
    const expr = this.parseExpr(0);
    this.expectKw('AS', 'write cast(value AS type), e.g. cast(temp AS Int)');
    const ty = this.lx.next();
    if (ty.type !== 'ident') this.expected('a type name (String, Int, Decimal, Boolean, ...)', ty);
    this.expectPunct(')');
    return { kind: 'cast', expr, type: ty.text, typePos: ty.pos, pos: t.pos };
  }

  private parseCase(t: Token): Expr {
    let subject: Expr | undefined;
    if (!this.isKw(this.lx.peek(), 'WHEN')) subject = this.parseExpr(0);
    const whens: Array<{ when: Expr; then: Expr }> = [];
    while (this.acceptKw('WHEN')) {
      const when = this.parseExpr(0);
      this.expectKw('THEN');
      whens.push({ when, then: this.parseExpr(0) });
    }
    if (whens.length === 0) this.expected('WHEN', this.lx.peek(), 'CASE needs at least one WHEN ... THEN ...');
    let otherwise: Expr | undefined;
    if (this.acceptKw('ELSE')) otherwise = this.parseExpr(0);
    this.expectKw('END', 'close CASE with END');
    const node: Expr = { kind: 'case', whens, pos: t.pos };
    if (subject) node.subject = subject;
    if (otherwise) node.otherwise = otherwise;
    return node;
  }
}
