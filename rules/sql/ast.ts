// AST of the AWS IoT SQL dialect. Every node carries its source position (1-based line:column)
// so semantic errors found by the compiler point at the exact spot in the rule text.

export interface Pos {
  line: number;
  column: number;
  /** 0-based offset in the source text. */
  offset: number;
}

export type Expr =
  /** `decimal`: a number written with a decimal point or an exponent (1000.0, 1e3) is a Decimal even when whole. */
  | { kind: 'literal'; value: string | number | boolean | null; decimal?: true; pos: Pos }
  | { kind: 'field'; name: string; pos: Pos }
  /** `@name`: a variable of the statement's SET clause. */
  | { kind: 'var'; name: string; pos: Pos }
  | { kind: 'star'; pos: Pos }
  | { kind: 'member'; object: Expr; name: string; pos: Pos }
  | { kind: 'index'; object: Expr; index: Expr; pos: Pos }
  | { kind: 'unary'; op: '-' | 'NOT'; operand: Expr; pos: Pos }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; pos: Pos }
  | { kind: 'call'; name: string; args: Expr[]; over?: OverClause; pos: Pos }
  | { kind: 'cast'; expr: Expr; type: string; typePos: Pos; pos: Pos }
  | { kind: 'case'; subject?: Expr; whens: Array<{ when: Expr; then: Expr }>; otherwise?: Expr; pos: Pos }
  | { kind: 'object'; entries: Array<{ key: string; value: Expr }>; pos: Pos }
  | { kind: 'array'; items: Expr[]; pos: Pos }
  | { kind: 'select'; query: SelectQuery; pos: Pos };

export type BinaryOp = 'AND' | 'OR' | '=' | '<>' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | 'IN';

/** `fn(args) OVER (PARTITION BY expr, ...)`: parsed now, executed by the windows helper later. */
export interface OverClause {
  partitionBy: Expr[];
  pos: Pos;
}

export type SelectItem = { kind: 'star'; pos: Pos } | { kind: 'expr'; expr: Expr; alias?: string; pos: Pos };

export interface OrderItem {
  expr: Expr;
  descending: boolean;
}

export interface SelectQuery {
  /** SELECT VALUE expr: the output is that bare value, not an object. */
  value: boolean;
  items: SelectItem[];
  /** `SET @a = expr, @b = expr` before SELECT (top-level statements only), in order. */
  set?: Array<{ name: string; expr: Expr; pos: Pos }>;
  /**
   * Top-level statement: an MQTT topic filter, or none (no FROM: a rule reached only through AWS
   * IoT Basic Ingest, $aws/rules/<rule>/...; pos is where FROM would be). Nested SELECT: an
   * expression (array or object).
   */
  from: { kind: 'topic'; filter: string; pos: Pos } | { kind: 'none'; pos: Pos } | { kind: 'expr'; expr: Expr; pos: Pos };
  /** `FROM 'filter' TIMESTAMP BY expr [LATENESS(unit, n)]`: event time for windows. */
  timestampBy?: { expr: Expr; lateness?: { unit: string; value: number }; pos: Pos };
  where?: Expr;
  groupBy?: Expr[];
  having?: Expr;
  orderBy?: OrderItem[];
  limit?: { value: number; pos: Pos };
  pos: Pos;
}
