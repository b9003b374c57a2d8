/**
 * The code `kgitops import` writes, as data: plain JSON values, references to exported names,
 * calls and `new` expressions. The same description is printed as TypeScript and evaluated
 * in-process, so the importer can build the constructs it is about to write, render them and
 * compare with the input before it prints a line (engine/import/index.ts).
 */

export type Expr =
  | { readonly t: 'lit'; readonly v: unknown }
  | { readonly t: 'ref'; readonly name: string }
  | { readonly t: 'call'; readonly fn: string; readonly args: readonly Expr[] }
  | { readonly t: 'obj'; readonly props: readonly (readonly [string, Expr])[] }
  | { readonly t: 'arr'; readonly items: readonly Expr[] };

export const lit = (v: unknown): Expr => ({ t: 'lit', v });
export const ref = (name: string): Expr => ({ t: 'ref', name });
export const call = (fn: string, ...args: Expr[]): Expr => ({ t: 'call', fn, args });
export const arr = (items: readonly Expr[]): Expr => ({ t: 'arr', items });

/** An object literal of the given props; undefined values are left out. */
export function obj(props: Record<string, Expr | undefined>): Expr {
  return { t: 'obj', props: Object.entries(props).filter((e): e is [string, Expr] => e[1] !== undefined) };
}

/** `Duration.seconds(90)` as `Duration.minutes(1.5)`? No: the largest unit that divides it exactly. */
export function duration(seconds: number): Expr {
  if (seconds > 0 && seconds % 3600 === 0) return call('Duration.hours', lit(seconds / 3600));
  if (seconds > 0 && seconds % 60 === 0) return call('Duration.minutes', lit(seconds / 60));
  return call('Duration.seconds', lit(seconds));
}

/** The first name of a dotted reference (`kplus` of `kplus.LabelSelector.of`). */
export function roots(e: Expr, out = new Set<string>()): Set<string> {
  switch (e.t) {
    case 'ref': out.add(e.name.split('.')[0]!); break;
    case 'call': out.add(e.fn.split('.')[0]!); e.args.forEach((a) => roots(a, out)); break;
    case 'obj': e.props.forEach(([, v]) => roots(v, out)); break;
    case 'arr': e.items.forEach((v) => roots(v, out)); break;
    default: break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Printing

const IDENT = /^[A-Za-z_$][\w$]*$/;
const WIDTH = 110;

function key(k: string): string {
  return IDENT.test(k) ? k : `'${k.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function str(s: string): string {
  if (!s.includes('\n') || s.length < 40) return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  return `\`${s.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}\``;
}

function value(v: unknown, indent: string): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return str(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return list(v.map((x) => value(x, `${indent}  `)), indent, '[', ']');
  if (typeof v === 'object') {
    return list(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([k, x]) => `${key(k)}: ${value(x, `${indent}  `)}`), indent, '{', '}');
  }
  throw new Error(`cannot print ${typeof v}`);
}

/** Items on one line when they fit, else one per line. */
function list(items: string[], indent: string, open: string, close: string): string {
  if (items.length === 0) return `${open}${close}`;
  const pad = open === '{' ? ' ' : '';
  const one = `${open}${pad}${items.join(', ')}${pad}${close}`;
  if (one.length + indent.length <= WIDTH && !one.includes('\n')) return one;
  return `${open}\n${items.map((i) => `${indent}  ${i},`).join('\n')}\n${indent}${close}`;
}

/** TypeScript source of an expression, indented as if it started at `indent`. */
export function print(e: Expr, indent = ''): string {
  switch (e.t) {
    case 'lit': return value(e.v, indent);
    case 'ref': return e.name;
    case 'call': {
      const args = e.args.map((a) => print(a, indent));
      const one = `${e.fn}(${args.join(', ')})`;
      if (one.length + indent.length <= WIDTH && !one.includes('\n')) return one;
      if (e.args.length === 1) return `${e.fn}(${args[0]})`;
      return `${e.fn}(\n${e.args.map((a) => `${indent}  ${print(a, `${indent}  `)},`).join('\n')}\n${indent})`;
    }
    case 'obj': return list(e.props.map(([k, v]) => `${key(k)}: ${print(v, `${indent}  `)}`), indent, '{', '}');
    case 'arr': return list(e.items.map((v) => print(v, `${indent}  `)), indent, '[', ']');
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluating

/** Exported names by their first segment: `{ Duration, kplus, CloneSet, ... }`. */
export type Registry = Readonly<Record<string, unknown>>;

function resolve(name: string, registry: Registry): { value: unknown; self: unknown } {
  const [first, ...rest] = name.split('.');
  let self: unknown;
  let v: unknown = registry[first!];
  if (v === undefined) throw new Error(`import: no ${first} to evaluate ${name}`);
  for (const r of rest) {
    self = v;
    v = (v as Record<string, unknown>)[r];
    if (v === undefined) throw new Error(`import: ${name} does not exist`);
  }
  return { value: v, self };
}

export function evaluate(e: Expr, registry: Registry): unknown {
  switch (e.t) {
    case 'lit': return structuredClone(e.v);
    case 'ref': return resolve(e.name, registry).value;
    case 'call': {
      const { value: fn, self } = resolve(e.fn, registry);
      return (fn as (...a: unknown[]) => unknown).apply(self, e.args.map((a) => evaluate(a, registry)));
    }
    case 'obj': return Object.fromEntries(e.props.map(([k, v]) => [k, evaluate(v, registry)]));
    case 'arr': return e.items.map((v) => evaluate(v, registry));
  }
}
