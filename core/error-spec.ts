// What the error catalogue (error-catalogue.ts) holds for each code.
export interface ErrorSpec {
  /** Section of docs/errors.md. */
  readonly group: string;
  /** What the code means, in one line. */
  readonly meaning: string;
  /** Message template: `{name}` is replaced by params.name. */
  readonly message: string;
  /** Default "how to fix" (a throw site may give a more precise one). */
  readonly hint: string;
  /** Set when no code path reports this code today: why it stays in the catalogue. */
  readonly reserved?: string;
}
