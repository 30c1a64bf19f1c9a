// What is wrong with a job's cron expression, in words a user can act on. node-cron decides whether
// an expression is valid (its parser is the one that runs the job); its reasons read
// "61 is a invalid expression for minute", with neither the field's range nor the form of a
// schedule. This names the field, the value and why (a number outside the field's range, a step
// of 0, a word that is no number or name), and says what a schedule is made of.
import { nodeCron } from './cron.js';

/** node-cron's field keys: the name a user knows each by and the values it takes. */
const FIELDS: Record<string, { label: string; min: number; max: number; names?: readonly string[] }> = {
  second: { label: 'second', min: 0, max: 59 },
  minute: { label: 'minute', min: 0, max: 59 },
  hour: { label: 'hour', min: 0, max: 23 },
  dayOfMonth: { label: 'day', min: 1, max: 31 },
  month: { label: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  dayOfWeek: { label: 'weekday', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
};

/** What a schedule is made of: the hint every problem ends with. */
export const CRON_FORM =
  "a schedule is five or six fields, [second] minute hour day month weekday: second and minute 0-59, hour 0-23, day 1-31, month 1-12 or jan-dec, weekday 0-7 or sun-sat (0 and 7: Sunday); each * (every), a value, a range a-b, a list a,b or a step */n, e.g. '*/5 * * * *' (every 5 minutes) or '0 30 2 * * *' (at 02:30:00)";

/** Why one bound of a range (`5`, `jan`) is not a value of the field, or undefined when it is. */
function boundProblem(bound: string, f: (typeof FIELDS)[string]): string | undefined {
  if (/^\d+$/.test(bound)) {
    const n = Number(bound);
    return n < f.min || n > f.max ? `${n} is outside ${f.min}-${f.max}` : undefined;
  }
  if (f.names?.some((name) => bound.toLowerCase().startsWith(name))) return undefined;
  return `'${bound}' is not a number${f.names ? ` or a name (${f.names[0]}-${f.names.at(-1)})` : ''}`;
}

/** Why a field's value is refused, as far as it can be told (node-cron has already refused it). */
function fieldProblem(key: string, value: string | undefined, message: string): string {
  const f = FIELDS[key];
  if (!f || value === undefined) return message;
  const shown = `the ${f.label} field '${value}'`;
  // node-cron's only refusal of valid fields together: a day that month never has (31 in February)
  const impossible = /^\S+ (\S+) is an impossible day of month/.exec(message);
  if (impossible) return `${shown}: no month of the month field '${impossible[1]}' has that day`;
  for (const part of value.split(',')) {
    const [range = '', step, extra] = part.split('/');
    if (extra !== undefined) return `${shown}: '${part}' has two steps`;
    if (step !== undefined && !/^\d+$/.test(step)) return `${shown}: the step '${step}' is not a whole number`;
    if (step !== undefined && Number(step) === 0) return `${shown}: a step of 0 never comes`;
    if (range === '*' || range === '?') continue;
    for (const bound of range.split('-')) {
      const why = boundProblem(bound, f);
      if (why) return `${shown}: ${why}`;
    }
  }
  return `${shown} is not valid for the ${f.label}`;
}

/** What is wrong with `expr` (its fields, then the form of a schedule), or undefined when node-cron takes it. */
export function cronProblem(expr: string, job?: string): string | undefined {
  const r = nodeCron().validateDetailed(expr);
  if (r.valid) return undefined;
  const whys = r.errors.map((e) => {
    if (e.field !== 'expression') return fieldProblem(e.field, e.value, e.message);
    const count = /expected 5 or 6 fields but got (\d+)/.exec(e.message);
    if (count) return `it has ${count[1]} field${count[1] === '1' ? '' : 's'}`;
    if (/illegal characters/.test(e.message)) return 'it has characters a schedule does not use (digits, names, * , - / and spaces)';
    return e.message;
  });
  return `${job === undefined ? '' : `job '${job}': `}invalid cron expression '${expr}': ${whys.join('; ')}; ${CRON_FORM}`;
}
