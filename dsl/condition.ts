/**
 * Success and failure conditions of measured gates, e.g. `result < 0.01` or
 * `body.status == "ok" && len(body.checks) > 0`.
 *
 * Conditions come from manifests, so they are parsed and interpreted here and never handed to
 * eval/Function; values are read only through own properties of plain JSON data (no
 * `constructor`, no `__proto__`, no methods), and every error names where and what.
 *
 * Grammar (loosest binding first):
 *   or      := and (("||" | "or") and)*
 *   and     := cmp (("&&" | "and") cmp)*
 *   cmp     := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?     comparisons do not chain
 *   sum     := product (("+" | "-") product)*
 *   product := unary (("*" | "/" | "%") unary)*
 *   unary   := ("!" | "not" | "-") unary | postfix
 *   postfix := primary ("." name | "[" or "]")*
 *   primary := number | string | true | false | null | name | name "(" args ")" | "(" or ")"
 * Functions: len(x) (string, list or object), isNaN(n), isInf(n), abs(n), min(list | n, ...),
 * max(list | n, ...).
 *
 * Types are strict, so that a typo is an error rather than a silently false gate: `&&`, `||`
 * and `!` take booleans, `<` and friends numbers (or two strings), arithmetic numbers, and the
 * whole condition must be true or false. `==` compares by value (lists and objects deeply).
 */

export class ConditionError extends Error {
  /** 0-based offset in the expression, for syntax errors. */
  readonly position?: number;
  constructor(message: string, position?: number) {
    super(message);
    this.name = 'ConditionError';
    if (position !== undefined) this.position = position;
  }
}

type Node =
  | { k: 'lit'; v: unknown; s: number; e: number }
  | { k: 'id'; name: string; s: number; e: number }
  | { k: 'member'; obj: Node; name: string; s: number; e: number }
  | { k: 'index'; obj: Node; index: Node; s: number; e: number }
  | { k: 'call'; fn: string; args: Node[]; s: number; e: number }
  | { k: 'unary'; op: '!' | '-'; x: Node; s: number; e: number }
  | { k: 'bin'; op: string; l: Node; r: Node; s: number; e: number };

/** A parsed condition; evaluate it as often as needed. */
export interface Condition {
  readonly source: string;
  /** @internal */
  readonly root: Node;
}

// ---- tokens ------------------------------------------------------------------------------------

type Tok =
  | { t: 'num'; v: number; s: number; e: number }
  | { t: 'str'; v: string; s: number; e: number }
  | { t: 'name'; v: string; s: number; e: number }
  | { t: 'op'; v: string; s: number; e: number }
  | { t: 'end'; v: ''; s: number; e: number };

// Long expressions and deep nesting are not conditions anyone writes; the limits keep the
// recursive parser and evaluator far from the stack's end.
const MAX_LENGTH = 4000;
const MAX_DEPTH = 100;

const OPS = ['<=', '>=', '==', '!=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', '.', ',', '+', '-', '*', '/', '%'];

function describe(tok: Tok): string {
  switch (tok.t) {
    case 'end': return 'the end of the condition';
    case 'str': return `the string ${JSON.stringify(tok.v)}`;
    case 'num': return `the number ${tok.v}`;
    default: return `"${tok.v}"`;
  }
}

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const fail = (msg: string, at: number): never => { throw new ConditionError(`${msg} at column ${at + 1}`, at); };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    const s = i;
    // ".5" is a number, but in "body.items.0" the dot is member access (reported by the parser).
    const prev = out[out.length - 1];
    const afterValue = prev && (prev.t !== 'op' || prev.v === ')' || prev.v === ']');
    if (/[0-9]/.test(c) || (c === '.' && !afterValue && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(src.slice(i))!;
      i += m[0].length;
      if (/[A-Za-z_]/.test(src[i] ?? '')) fail(`invalid number "${src.slice(s, i + 1)}"`, s);
      out.push({ t: 'num', v: Number(m[0]), s, e: i });
      continue;
    }
    if (c === '"' || c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= src.length) fail(`unterminated string (missing closing ${c})`, s);
        const d = src[i];
        if (d === c) { i++; break; }
        if (d === '\\') {
          const n = src[i + 1];
          const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
          if (n !== undefined && n in simple) { v += simple[n]; i += 2; continue; }
          if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(i + 2, i + 6))) { v += String.fromCharCode(parseInt(src.slice(i + 2, i + 6), 16)); i += 6; continue; }
          fail(`invalid escape "\\${n ?? ''}" in a string`, i);
        }
        v += d;
        i++;
      }
      out.push({ t: 'str', v, s, e: i });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(src.slice(i))!;
      i += m[0].length;
      out.push({ t: 'name', v: m[0], s, e: i });
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      i += op.length;
      out.push({ t: 'op', v: op, s, e: i });
      continue;
    }
    if (c === '=') fail('unexpected "=" (compare with ==)', i);
    if (c === '&') fail('unexpected "&" (use && for "and")', i);
    if (c === '|') fail('unexpected "|" (use || for "or")', i);
    fail(`unexpected character ${JSON.stringify(c)}`, i);
  }
  out.push({ t: 'end', v: '', s: src.length, e: src.length });
  return out;
}

// ---- parser ------------------------------------------------------------------------------------

const FUNCTIONS: Record<string, { min: number; max: number; usage: string }> = {
  len: { min: 1, max: 1, usage: 'len(x)' },
  isNaN: { min: 1, max: 1, usage: 'isNaN(n)' },
  isInf: { min: 1, max: 1, usage: 'isInf(n)' },
  abs: { min: 1, max: 1, usage: 'abs(n)' },
  min: { min: 1, max: Infinity, usage: 'min(list) or min(a, b, ...)' },
  max: { min: 1, max: Infinity, usage: 'max(list) or max(a, b, ...)' },
};

const KEYWORDS: Record<string, unknown> = { true: true, false: false, null: null };

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly src: string, private readonly toks: Tok[]) {}

  parse(): Node {
    if (this.peek().t === 'end') throw new ConditionError('the condition is empty', 0);
    const n = this.or();
    const t = this.peek();
    if (t.t !== 'end') this.fail(`expected an operator (&&, ||, ==, <, ...) or the end, found ${describe(t)}`, t);
    return n;
  }

  private peek(): Tok { return this.toks[this.i]; }
  private next(): Tok { return this.toks[this.i++]; }
  private isOp(v: string): boolean { const t = this.peek(); return t.t === 'op' && t.v === v; }
  private isWord(v: string): boolean { const t = this.peek(); return t.t === 'name' && t.v === v; }
  private fail(msg: string, at: Tok): never { throw new ConditionError(`${msg} at column ${at.s + 1}`, at.s); }

  private expect(v: string, what: string): Tok {
    const t = this.peek();
    if (t.t !== 'op' || t.v !== v) this.fail(`expected "${v}" ${what}, found ${describe(t)}`, t);
    return this.next();
  }

  private nest<T>(fn: () => T): T {
    if (++this.depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} levels deep`, this.peek());
    try { return fn(); } finally { this.depth--; }
  }

  private or(): Node {
    let l = this.and();
    while (this.isOp('||') || this.isWord('or')) {
      this.next();
      const r = this.and();
      l = { k: 'bin', op: '||', l, r, s: l.s, e: r.e };
    }
    return l;
  }

  private and(): Node {
    let l = this.cmp();
    while (this.isOp('&&') || this.isWord('and')) {
      this.next();
      const r = this.cmp();
      l = { k: 'bin', op: '&&', l, r, s: l.s, e: r.e };
    }
    return l;
  }

  private cmp(): Node {
    const l = this.sum();
    const t = this.peek();
    if (t.t === 'op' && ['<', '<=', '>', '>=', '==', '!='].includes(t.v)) {
      this.next();
      const r = this.sum();
      const u = this.peek();
      if (u.t === 'op' && ['<', '<=', '>', '>=', '==', '!='].includes(u.v)) {
        this.fail(`comparisons do not chain: write "a < b && b < c" instead of "a < b < c" (found "${u.v}")`, u);
      }
      return { k: 'bin', op: t.v, l, r, s: l.s, e: r.e };
    }
    return l;
  }

  private sum(): Node {
    let l = this.product();
    while (this.isOp('+') || this.isOp('-')) {
      const op = String(this.next().v);
      const r = this.product();
      l = { k: 'bin', op, l, r, s: l.s, e: r.e };
    }
    return l;
  }

  private product(): Node {
    let l = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = String(this.next().v);
      const r = this.unary();
      l = { k: 'bin', op, l, r, s: l.s, e: r.e };
    }
    return l;
  }

  private unary(): Node {
    return this.nest(() => {
      const t = this.peek();
      if ((t.t === 'op' && (t.v === '!' || t.v === '-')) || (t.t === 'name' && t.v === 'not')) {
        this.next();
        const x = this.unary();
        return { k: 'unary', op: t.v === '-' ? '-' : '!', x, s: t.s, e: x.e };
      }
      return this.postfix();
    });
  }

  private postfix(): Node {
    let n = this.primary();
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const t = this.peek();
        if (t.t !== 'name') this.fail(`expected a field name after ".", found ${describe(t)}${t.t === 'num' ? ` (a list element is [${t.v}])` : ''}`, t);
        this.next();
        n = { k: 'member', obj: n, name: t.v, s: n.s, e: t.e };
      } else if (this.isOp('[')) {
        this.next();
        const index = this.nest(() => this.or());
        const close = this.expect(']', 'to close "["');
        n = { k: 'index', obj: n, index, s: n.s, e: close.e };
      } else if (this.isOp('(')) {
        this.fail('only the functions len, isNaN, isInf, abs, min and max can be called', this.peek());
      } else {
        return n;
      }
    }
  }

  private primary(): Node {
    const t = this.peek();
    if (t.t === 'num' || t.t === 'str') { this.next(); return { k: 'lit', v: t.v, s: t.s, e: t.e }; }
    if (t.t === 'name') {
      if (t.v === 'and' || t.v === 'or') this.fail(`expected a value, found "${t.v}"`, t);
      this.next();
      if (Object.hasOwn(KEYWORDS, t.v)) return { k: 'lit', v: KEYWORDS[t.v], s: t.s, e: t.e };
      if (this.isOp('(')) {
        const f = Object.hasOwn(FUNCTIONS, t.v) ? FUNCTIONS[t.v] : undefined;
        if (!f) this.fail(`unknown function "${t.v}" (functions: ${Object.keys(FUNCTIONS).join(', ')})`, t);
        this.next();
        const args: Node[] = [];
        if (!this.isOp(')')) {
          for (;;) {
            args.push(this.nest(() => this.or()));
            if (!this.isOp(',')) break;
            this.next();
          }
        }
        const close = this.expect(')', `to close ${t.v}(`);
        if (args.length < f.min || args.length > f.max) {
          this.fail(`${t.v}() takes ${f.min === f.max ? f.min : `at least ${f.min}`} argument${f.max === 1 ? '' : 's'}, got ${args.length}: ${f.usage}`, t);
        }
        return { k: 'call', fn: t.v, args, s: t.s, e: close.e };
      }
      return { k: 'id', name: t.v, s: t.s, e: t.e };
    }
    if (t.t === 'op' && t.v === '(') {
      this.next();
      const n = this.nest(() => this.or());
      const close = this.expect(')', 'to close "("');
      return { ...n, s: t.s, e: close.e };
    }
    this.fail(`expected a value (a number, a string, a name or "("), found ${describe(t)}`, t);
  }
}

/** Parses a condition; throws a ConditionError saying where and what was expected. */
export function parseCondition(source: string): Condition {
  if (typeof source !== 'string') throw new ConditionError('the condition is not a string');
  if (source.length > MAX_LENGTH) throw new ConditionError(`the condition is longer than ${MAX_LENGTH} characters`);
  return { source, root: new Parser(source, tokenize(source)).parse() };
}

// ---- static check ------------------------------------------------------------------------------

/**
 * Checks a condition without data, for validate time: syntax, names (`identifiers`, e.g.
 * ['result', 'results'] or ['body']), and function arity. Returns the problems (empty: valid).
 */
export function checkCondition(expr: string, identifiers: readonly string[]): string[] {
  let c: Condition;
  try {
    c = parseCondition(expr);
  } catch (e) {
    return [(e as Error).message];
  }
  const out: string[] = [];
  const walk = (n: Node): void => {
    switch (n.k) {
      case 'id':
        if (!identifiers.includes(n.name)) out.push(`unknown name "${n.name}" at column ${n.s + 1} (${namesHint(identifiers)})`);
        return;
      case 'member': return walk(n.obj);
      case 'index': walk(n.obj); return walk(n.index);
      case 'call': return n.args.forEach(walk);
      case 'unary': return walk(n.x);
      case 'bin': walk(n.l); return walk(n.r);
      case 'lit': return;
    }
  };
  walk(c.root);
  return out;
}

function namesHint(names: readonly string[]): string {
  return names.length ? `available: ${names.join(', ')}` : 'no names are available here';
}

// ---- evaluation --------------------------------------------------------------------------------

type Env = Readonly<Record<string, unknown>>;

/** A short, readable rendering of a value for messages. */
export function formatValue(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
  if (v === undefined) return 'undefined';
  let s: string;
  try { s = JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? formatValue(x) : x)); } catch { s = String(v); }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => deepEqual(x, (b as unknown[])[i]));
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fieldsHint(o: Record<string, unknown>): string {
  const keys = Object.keys(o);
  if (keys.length === 0) return 'it is empty';
  const shown = keys.slice(0, 10).map((k) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k)));
  return `it has ${shown.join(', ')}${keys.length > 10 ? `, ... (${keys.length} fields)` : ''}`;
}

class Evaluator {
  constructor(private readonly src: string, private readonly env: Env) {}

  private text(n: Node): string { return this.src.slice(n.s, n.e).trim(); }
  private fail(msg: string): never { throw new ConditionError(msg); }

  private num(n: Node, what: string): number {
    const v = this.eval(n);
    if (typeof v !== 'number') this.fail(`${what} needs a number, but ${this.text(n)} is ${typeOf(v)} (${formatValue(v)})`);
    return v;
  }

  private bool(n: Node, what: string): boolean {
    const v = this.eval(n);
    if (typeof v !== 'boolean') this.fail(`${what} needs true or false, but ${this.text(n)} is ${typeOf(v)} (${formatValue(v)})`);
    return v;
  }

  eval(n: Node): unknown {
    switch (n.k) {
      case 'lit': return n.v;
      case 'id':
        if (!Object.hasOwn(this.env, n.name)) this.fail(`unknown name "${n.name}" (${namesHint(Object.keys(this.env))})`);
        return this.env[n.name];
      case 'member': {
        const o = this.eval(n.obj);
        if (!isPlainObject(o)) this.fail(`${this.text(n.obj)} is ${typeOf(o)} (${formatValue(o)}), it has no field "${n.name}"`);
        if (!Object.hasOwn(o, n.name)) this.fail(`${this.text(n.obj)} has no field "${n.name}" (${fieldsHint(o)})`);
        return o[n.name];
      }
      case 'index': {
        const o = this.eval(n.obj);
        const i = this.eval(n.index);
        if (Array.isArray(o)) {
          if (typeof i !== 'number' || !Number.isInteger(i)) this.fail(`a list is indexed by a whole number, but ${this.text(n.index)} is ${formatValue(i)}`);
          if (i < 0 || i >= o.length) this.fail(`${this.text(n)}: index ${i} is out of range (${this.text(n.obj)} has ${o.length} element${o.length === 1 ? '' : 's'})`);
          return o[i];
        }
        if (isPlainObject(o)) {
          if (typeof i !== 'string') this.fail(`an object is indexed by a string, but ${this.text(n.index)} is ${formatValue(i)}`);
          if (!Object.hasOwn(o, i)) this.fail(`${this.text(n.obj)} has no field ${JSON.stringify(i)} (${fieldsHint(o)})`);
          return o[i];
        }
        // Argo's Prometheus provider makes `result` a list, so `result[0]` is a common habit.
        const hint = n.obj.k === 'id' && n.obj.name === 'result' && typeof o === 'number' && Object.hasOwn(this.env, 'results')
          ? ': result is the first sample\'s value already (all values are in results, e.g. results[0])' : '';
        return this.fail(`${this.text(n.obj)} is ${typeOf(o)} (${formatValue(o)}) and cannot be indexed${hint}`);
      }
      case 'call': return this.call(n);
      case 'unary':
        return n.op === '!' ? !this.bool(n.x, '"!"') : -this.num(n.x, 'unary "-"');
      case 'bin': return this.binary(n);
    }
  }

  private call(n: Extract<Node, { k: 'call' }>): unknown {
    switch (n.fn) {
      case 'len': {
        const v = this.eval(n.args[0]);
        if (typeof v === 'string' || Array.isArray(v)) return v.length;
        if (isPlainObject(v)) return Object.keys(v).length;
        return this.fail(`len() needs a string, a list or an object, but ${this.text(n.args[0])} is ${typeOf(v)} (${formatValue(v)})`);
      }
      case 'isNaN': return Number.isNaN(this.num(n.args[0], 'isNaN()'));
      case 'isInf': { const v = this.num(n.args[0], 'isInf()'); return v === Infinity || v === -Infinity; }
      case 'abs': return Math.abs(this.num(n.args[0], 'abs()'));
      case 'min':
      case 'max': {
        let values: unknown[];
        if (n.args.length === 1) {
          const v = this.eval(n.args[0]);
          if (!Array.isArray(v)) this.fail(`${n.fn}() of one argument needs a list, but ${this.text(n.args[0])} is ${typeOf(v)} (${formatValue(v)})`);
          values = v;
        } else {
          values = n.args.map((a) => this.eval(a));
        }
        if (values.length === 0) this.fail(`${n.fn}() of an empty list (${this.text(n.args[0])})`);
        const bad = values.find((v) => typeof v !== 'number');
        if (bad !== undefined) this.fail(`${n.fn}() needs numbers, got ${typeOf(bad)} (${formatValue(bad)})`);
        // NaN propagates, as in PromQL: a NaN among the values makes min/max NaN.
        return (n.fn === 'min' ? Math.min : Math.max)(...(values as number[]));
      }
    }
    return this.fail(`unknown function "${n.fn}"`);
  }

  private binary(n: Extract<Node, { k: 'bin' }>): unknown {
    switch (n.op) {
      case '&&': return this.bool(n.l, '"&&"') && this.bool(n.r, '"&&"');
      case '||': return this.bool(n.l, '"||"') || this.bool(n.r, '"||"');
      case '==': return deepEqual(this.eval(n.l), this.eval(n.r));
      case '!=': return !deepEqual(this.eval(n.l), this.eval(n.r));
      case '<': case '<=': case '>': case '>=': {
        const l = this.eval(n.l), r = this.eval(n.r);
        const ok = (typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string');
        if (!ok) {
          this.fail(`"${n.op}" compares two numbers (or two strings), but ${this.text(n.l)} is ${typeOf(l)} (${formatValue(l)}) and ${this.text(n.r)} is ${typeOf(r)} (${formatValue(r)})`);
        }
        const a = l as number, b = r as number;
        return n.op === '<' ? a < b : n.op === '<=' ? a <= b : n.op === '>' ? a > b : a >= b;
      }
      default: {
        const a = this.num(n.l, `"${n.op}"`), b = this.num(n.r, `"${n.op}"`);
        return n.op === '+' ? a + b : n.op === '-' ? a - b : n.op === '*' ? a * b : n.op === '/' ? a / b : a % b;
      }
    }
  }
}

/** The value of an expression (any type), e.g. for showing what a condition looked at. */
export function evaluateExpression(expr: string | Condition, env: Env): unknown {
  const c = typeof expr === 'string' ? parseCondition(expr) : expr;
  return new Evaluator(c.source, env).eval(c.root);
}

/**
 * Evaluates a condition over `env` (e.g. { result: 0.02, results: [0.02] } or { body }).
 * Throws a ConditionError for a malformed condition, a missing field, a type mismatch, or a
 * value that is not true or false.
 */
export function evaluateCondition(expr: string | Condition, env: Env): boolean {
  const c = typeof expr === 'string' ? parseCondition(expr) : expr;
  const v = new Evaluator(c.source, env).eval(c.root);
  if (typeof v !== 'boolean') throw new ConditionError(`the condition must be true or false, but it is ${typeOf(v)} (${formatValue(v)})`);
  return v;
}

/**
 * What a condition's comparisons looked at, e.g. `body.status = "degraded"`, to say why it
 * was false. Operands that cannot be evaluated are left out.
 */
export function explainCondition(expr: string | Condition, env: Env): string {
  const c = typeof expr === 'string' ? parseCondition(expr) : expr;
  const ev = new Evaluator(c.source, env);
  const seen = new Map<string, string>();
  const show = (n: Node) => {
    if (n.k === 'lit') return;
    const text = c.source.slice(n.s, n.e).trim();
    if (seen.has(text)) return;
    try { seen.set(text, formatValue(ev.eval(n))); } catch { /* an operand that errors says nothing useful here */ }
  };
  const walk = (n: Node): void => {
    if (n.k === 'bin' && (n.op === '&&' || n.op === '||')) { walk(n.l); walk(n.r); return; }
    if (n.k === 'unary' && n.op === '!') { walk(n.x); return; }
    if (n.k === 'bin' && ['<', '<=', '>', '>=', '==', '!='].includes(n.op)) { show(n.l); show(n.r); return; }
    show(n);
  };
  walk(c.root);
  return [...seen].map(([k, v]) => `${k} = ${v}`).join(', ');
}
