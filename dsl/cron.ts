/**
 * Cron schedules as Kruise's AdvancedCronJob controller reads them (robfig/cron v3
 * `ParseStandard`): five fields (minute hour day-of-month month day-of-week), or a descriptor
 * (`@daily`, `@every 1h30m`, ...), optionally prefixed with `TZ=<zone> ` or `CRON_TZ=<zone> `.
 * No seconds field, no `L`/`W`/`#`/`H`, and day-of-week 7 is not Sunday.
 */

export interface CronField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS: readonly CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/** Parsed five-field schedule: the allowed values of each field. */
export interface CronSchedule {
  readonly timeZone?: string;
  /** Set for `@every <duration>` schedules. */
  readonly everySeconds?: number;
  readonly fields?: readonly (readonly number[])[];
  /** robfig: when either day field is restricted (not `*`/`?`), a day matches if EITHER matches. */
  readonly domStar?: boolean;
  readonly dowStar?: boolean;
}

export class CronError extends Error {}

/** Parses a schedule; throws CronError with a message that says which part is wrong. */
export function parseCron(spec: string): CronSchedule {
  let rest = spec.trim();
  let timeZone: string | undefined;
  const tz = /^(?:CRON_TZ|TZ)=(\S*)(?:\s+|$)/.exec(rest);
  if (tz) {
    timeZone = tz[1];
    rest = rest.slice(tz[0].length).trim();
    if (!isValidTimeZone(timeZone)) throw new CronError(`unknown time zone "${timeZone}" in the TZ= prefix`);
    if (!rest) throw new CronError('nothing follows the TZ= prefix');
  }
  if (!rest) throw new CronError('the schedule is empty');
  if (rest.startsWith('@')) {
    if (DESCRIPTORS.has(rest)) return { timeZone, ...expandDescriptor(rest) };
    const every = /^@every\s+(\S+)$/.exec(rest);
    if (every) {
      const s = parseGoDuration(every[1]);
      if (s === undefined) throw new CronError(`"${every[1]}" is not a duration (write e.g. 90s, 15m or 1h30m)`);
      return { timeZone, everySeconds: s };
    }
    throw new CronError(`unknown descriptor "${rest}" (use @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>)`);
  }
  const parts = rest.split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(`expected 5 fields (minute hour day-of-month month day-of-week), found ${parts.length}`);
  }
  const fields = parts.map((p, i) => parseField(p, FIELDS[i]));
  return { timeZone, fields, domStar: isStar(parts[2]), dowStar: isStar(parts[4]) };
}

function isStar(p: string): boolean {
  return p === '*' || p === '?' || p.startsWith('*/') || p.startsWith('?/');
}

function expandDescriptor(d: string): CronSchedule {
  const all = (f: CronField) => range(f.min, f.max, 1);
  const at = {
    '@yearly': ['0', '0', '1', '1', '*'], '@annually': ['0', '0', '1', '1', '*'], '@monthly': ['0', '0', '1', '*', '*'],
    '@weekly': ['0', '0', '*', '*', '0'], '@daily': ['0', '0', '*', '*', '*'], '@midnight': ['0', '0', '*', '*', '*'],
    '@hourly': ['0', '*', '*', '*', '*'],
  }[d]!;
  return {
    fields: at.map((p, i) => (p === '*' ? all(FIELDS[i]) : [Number(p)])),
    domStar: at[2] === '*',
    dowStar: at[4] === '*',
  };
}

function parseField(text: string, f: CronField): number[] {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [rangePart, stepPart, extra] = item.split('/');
    if (extra !== undefined) throw new CronError(`${f.name} "${item}": more than one "/"`);
    let step = 1;
    if (stepPart !== undefined) {
      if (!/^\d+$/.test(stepPart) || Number(stepPart) === 0) throw new CronError(`${f.name} "${item}": the step must be a positive number`);
      step = Number(stepPart);
    }
    let lo: number;
    let hi: number;
    if (rangePart === '*' || rangePart === '?') {
      lo = f.min;
      hi = f.max;
    } else {
      const bounds = rangePart.split('-');
      if (bounds.length > 2) throw new CronError(`${f.name} "${item}": too many hyphens`);
      lo = value(bounds[0], f, item);
      hi = bounds.length === 2 ? value(bounds[1], f, item) : stepPart !== undefined ? f.max : lo;
      if (lo > hi) throw new CronError(`${f.name} "${item}": the range starts after it ends`);
    }
    for (const v of range(lo, hi, step)) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

function value(s: string, f: CronField, item: string): number {
  const named = f.names?.indexOf(s.toLowerCase()) ?? -1;
  const v = named >= 0 ? named + (f.name === 'month' ? 1 : 0) : /^\d+$/.test(s) ? Number(s) : NaN;
  if (Number.isNaN(v)) throw new CronError(`${f.name} "${item}": "${s}" is not a number${f.names ? ' or name' : ''}`);
  if (v < f.min || v > f.max) {
    const sunday = f.name === 'day of week' && v === 7 ? ' (Sunday is 0, not 7)' : '';
    throw new CronError(`${f.name} "${item}": ${v} is outside ${f.min}-${f.max}${sunday}`);
  }
  return v;
}

function range(lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  for (let v = lo; v <= hi; v += step) out.push(v);
  return out;
}

/** Go time.ParseDuration for the units cron schedules use. Returns seconds, or undefined. */
export function parseGoDuration(s: string): number | undefined {
  if (!/^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]];
  return total;
}

/** An IANA zone name this machine knows (Go's embedded tzdata knows the same set). */
export function isValidTimeZone(zone: string): boolean {
  if (!zone || zone.toLowerCase() === 'local') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
