// The nesting bound of a rule set read as YAML/JSON text: a rule set file (rulesFile, at start and
// at each SIGHUP reload; `gatehouse rules check|sign`) and a rule set sent as text (admin API,
// remote control, `rules apply`: gateway/pipeline/rule-set-bytes.ts).

/**
 * Deepest nesting (collections inside collections) a rule set read as text may have; a rule set
 * needs about 10 (the fleet example 8). The yaml package composes nodes recursively: 10,000
 * nested '[' (20 KB) crashed the whole gateway (V8 out of memory in a RegExp compile after the
 * stack overflow), and any deeper text overflowed the stack.
 */
export const MAX_RULE_SET_DEPTH = 64;

/**
 * Where `text` first nests deeper than `limit` (its line and column, 1-based), or undefined when
 * it does not: yaml's lexer and CST parser keep their own stack, so the check itself cannot overflow.
 */
export function nestsDeeperThan(yamlParser: typeof import('yaml'), text: string, limit: number): { line: number; col: number } | undefined {
  const parser = new yamlParser.Parser();
  for (const lexeme of new yamlParser.Lexer().lex(text)) {
    for (const _ of parser.next(lexeme)) {
      // the finished top-level tokens are not needed: only the depth of the parser's stack
    }
    if (parser.stack.length > limit) {
      const before = text.slice(0, parser.offset);
      return { line: before.split('\n').length, col: parser.offset - before.lastIndexOf('\n') };
    }
  }
  return undefined;
}
