// Recursive-descent / Pratt parser for AWS IoT SQL. Produces the AST of ast.ts; every syntax
// error is a GH_SQL_SYNTAX GatehouseError with `where: 'line L, column C'` and what was expected.
// This file: the statements (SELECT [VALUE] ... FROM ... [TIMESTAMP BY] [WHERE] [GROUP BY]
// [HAVING] [ORDER BY] [LIMIT], nested SELECTs) and the entry points; the expressions and the
// token helpers are parse-expr.ts's (ExprParser, which this Parser extends).
import type { Expr, OrderItem, Pos, SelectItem, SelectQuery } from './ast.js';
import { ExprParser, RESERVED } from './parse-expr.js';

/** What may follow the select items of a statement without FROM (AWS IoT: a Basic Ingest rule). */
const AFTER_FROM = ['WHERE', 'TIMESTAMP', 'GROUP', 'HAVING', 'ORDER', 'LIMIT'] as const;

export class Parser extends ExprParser {
  /** A complete statement: SELECT ... FROM 'filter' [WHERE ...] [GROUP BY ...] [HAVING ...] [ORDER BY ...] [LIMIT n]. */
  parseStatement(): SelectQuery {
    const set = this.parseSet();
    const q = this.parseSelect(true);
    if (set) q.set = set;
    const t = this.lx.peek();
    if (t.type !== 'eof') this.expected('end of statement (or TIMESTAMP BY, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT)', t);
    return q;
  }

  /** A standalone expression (substitution templates). */
  parseStandaloneExpression(): Expr {
    const e = this.parseExpr(0);
    const t = this.lx.peek();
    if (t.type !== 'eof') this.expected('end of expression', t);
    return e;
  }

  /** `SET @a = expr [, @b = expr]` before SELECT: the variables, in order (undefined without SET). */
  private parseSet(): NonNullable<SelectQuery['set']> | undefined {
    if (!this.acceptKw('SET')) return undefined;
    const set: NonNullable<SelectQuery['set']> = [];
    for (;;) {
      const v = this.lx.next();
      if (v.type !== 'var') this.expected('a variable such as @celsius', v, 'write SET @name = expression [, @name2 = expression2] SELECT ...');
      this.expectPunct('=', `write SET @${v.text} = expression`);
      set.push({ name: v.text, expr: this.parseExpr(0), pos: v.pos });
      if (!this.acceptPunct(',')) break;
    }
    return set;
  }

  protected override parseSelect(topLevel: boolean): SelectQuery {
    const selectTok = this.lx.peek();
    if (this.isKw(selectTok, 'SET')) {
      this.expected('SELECT', selectTok, 'SET comes once, before the (outer) SELECT: SET @a = ..., @b = ... SELECT ...');
    }
    if (!this.isKw(selectTok, 'SELECT')) this.expected('SELECT', selectTok, "a rule starts with SELECT ... FROM 'topic/filter'");
    this.lx.next();
    let value = false;
    const items: SelectItem[] = [];
    const vt = this.lx.peek();
    if (this.isKw(vt, 'VALUE')) {
      this.lx.next();
      const after = this.lx.peek();
      // `value` is also a common field name: it is the keyword only when an expression follows.
      const fieldUse =
        after.type === 'eof' ||
        this.isKw(after, 'FROM') ||
        this.isKw(after, 'AS') ||
        (after.type === 'punct' && !['(', '[', '{', '-', '*'].includes(after.text));
      if (fieldUse) {
        const left = this.parseInfix({ kind: 'field', name: vt.text, pos: vt.pos }, 0);
        items.push(this.finishItem(left, vt.pos));
      } else {
        value = true;
      }
    }
    if (items.length === 0 || this.acceptPunct(',')) {
      for (;;) {
        items.push(this.parseItem(items.length > 0));
        if (!this.acceptPunct(',')) break;
      }
    }
    if (value && items.length !== 1) this.fail('SELECT VALUE takes exactly one expression', selectTok.pos, 'remove the other items or drop VALUE');
    const fromTok = this.lx.peek();
    // AWS IoT: FROM is optional for a rule reached only through Basic Ingest ($aws/rules/<rule>/...).
    // (The clauses of a windowed rule are read too, for the compiler to say why it needs FROM.)
    const noFrom = topLevel && (fromTok.type === 'eof' || AFTER_FROM.some((kw) => this.isKw(fromTok, kw))) && this.selectModifierHint(items) === undefined;
    if (!noFrom && !this.isKw(fromTok, 'FROM')) {
      const hint = fromTok.type === 'string' ? `write FROM before the topic filter: ... FROM '${fromTok.text}'` : this.selectModifierHint(items);
      this.expected(items.length ? "',' or FROM" : 'FROM', fromTok, hint);
    }
    if (!noFrom) this.lx.next();
    let from: SelectQuery['from'];
    if (noFrom) {
      from = { kind: 'none', pos: fromTok.pos };
    } else if (topLevel) {
      const raw = this.lx.rawTopic();
      const tok = raw ?? this.lx.next();
      if (tok.type !== 'string' || tok.text === '')
        this.expected("a topic filter such as 'sensors/+/temp'", tok, "write the MQTT topic filter the rule reads after FROM, e.g. FROM 'sensors/+/temp'");
      from = { kind: 'topic', filter: tok.text, pos: tok.pos };
    } else {
      const p = this.lx.peek().pos;
      from = { kind: 'expr', expr: this.parseExpr(0), pos: p };
    }
    const q: SelectQuery = { value, items, from, pos: selectTok.pos };
    const tsTok = topLevel ? this.acceptKw('TIMESTAMP') : undefined;
    if (tsTok) {
      this.expectKw('BY', 'write TIMESTAMP BY <expression>, e.g. TIMESTAMP BY ts');
      const expr = this.parseExpr(0);
      q.timestampBy = { expr, pos: tsTok.pos };
      if (this.acceptKw('LATENESS')) {
        this.expectPunct('(', 'write LATENESS(ss, 5)');
        const u = this.lx.next();
        if (u.type !== 'ident') this.expected('a time unit (ms, ss, mi, hh, dd)', u);
        this.expectPunct(',');
        const n = this.lx.next();
        if (n.type !== 'number' || !n.isInt || n.num! < 0) this.expected('a whole number of time units', n);
        this.expectPunct(')');
        q.timestampBy.lateness = { unit: u.text, value: n.num! };
      }
    }
    if (this.acceptKw('WHERE')) q.where = this.parseExpr(0);
    if (!topLevel) return q;
    if (this.acceptKw('GROUP')) {
      this.expectKw('BY');
      q.groupBy = this.parseExprList();
    }
    if (this.acceptKw('HAVING')) q.having = this.parseExpr(0);
    if (this.acceptKw('ORDER')) {
      this.expectKw('BY');
      const order: OrderItem[] = [];
      for (;;) {
        const expr = this.parseExpr(0);
        let descending = false;
        if (this.acceptKw('DESC')) descending = true;
        else this.acceptKw('ASC');
        order.push({ expr, descending });
        if (!this.acceptPunct(',')) break;
      }
      q.orderBy = order;
    }
    const lim = this.acceptKw('LIMIT');
    if (lim) {
      const n = this.lx.next();
      if (n.type !== 'number' || !n.isInt) this.expected('a whole number after LIMIT', n);
      q.limit = { value: n.num!, pos: n.pos };
    }
    return q;
  }

  /** SELECT DISTINCT x / SELECT TOP 5 x: the modifier was read as a field named DISTINCT. */
  private selectModifierHint(items: SelectItem[]): string | undefined {
    const last = items.at(-1);
    if (items.length !== 1 || last?.kind !== 'expr' || last.alias !== undefined || last.expr.kind !== 'field') return undefined;
    const word = last.expr.name.toUpperCase();
    if (word === 'DISTINCT' || word === 'ALL') return `AWS IoT SQL has no SELECT ${word}: a rule gives one output per message; remove ${word}`;
    if (word === 'TOP') return 'AWS IoT SQL has no SELECT TOP: a rule gives one output per message (a windowed rule takes LIMIT n, docs/windows.md)';
    return undefined;
  }

  private parseItem(afterComma: boolean): SelectItem {
    const t = this.lx.peek();
    if (this.isPunct(t, '*')) {
      this.lx.next();
      return { kind: 'star', pos: t.pos };
    }
    if (this.isKw(t, 'FROM')) {
      this.expected(
        'a select item (a field, *, or an expression)',
        t,
        afterComma ? "remove the ',' before FROM" : 'e.g. SELECT * FROM ... or SELECT temp FROM ...',
      );
    }
    return this.finishItem(this.parseExpr(0), t.pos);
  }

  private finishItem(expr: Expr, pos: Pos): SelectItem {
    if (!this.acceptKw('AS')) return { kind: 'expr', expr, pos };
    // Aliases may be dotted (`AS bar.baz` builds nested output objects).
    let alias = this.aliasPart();
    while (this.acceptPunct('.')) alias += `.${this.aliasPart()}`;
    return { kind: 'expr', expr, alias, pos };
  }

  private aliasPart(): string {
    const t = this.lx.peek();
    if ((t.type === 'ident' && !RESERVED.has(t.text.toUpperCase())) || t.type === 'qident' || t.type === 'string') return this.lx.next().text;
    this.expected('an alias name after AS', t, 'quote reserved words used as names in backquotes');
  }
}

export function parseSql(sql: string): SelectQuery {
  return new Parser(sql).parseStatement();
}

export function parseExpression(src: string): Expr {
  return new Parser(src).parseStandaloneExpression();
}
