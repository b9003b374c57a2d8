/**
 * A parser for the plain block style that kubectl, Helm and most generators write: nested
 * mappings and sequences by indentation, plain, quoted and literal (`|`) scalars, `{}`/`[]` and
 * JSON-like flow collections. It is several times faster than js-yaml on such files, which is
 * what `kgitops validate` spends most of its time on. Anything outside that subset (anchors,
 * tags, folded scalars, multi-line quoted scalars, complex keys, numbers in other notations,
 * tabs, duplicate keys; anchors and aliases only on values) returns undefined, and the caller parses the document
 * with js-yaml: the result is always what js-yaml's CORE schema gives.
 */

/** Thrown inside the parser to give up; never escapes parseBlockYaml. */
class Unsupported extends Error {}
const NO = new Unsupported();

interface Line {
  readonly indent: number;
  /** The text after the indentation, without a trailing comment or spaces. */
  readonly text: string;
  /** The raw line (block scalars keep their content as written). */
  readonly raw: string;
}

const INT = /^-?(0|[1-9][0-9]*)$/;
const FLOAT = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/;
/** What js-yaml's int and float types accept (js-yaml 4, type/int.js and type/float.js), for giving up on them. */
const YAML_INT = /^[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0o[0-7_]+|0[0-7_]+|[0-9][0-9_]*)$/;
const YAML_FLOAT = /^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?)$/;
/** Plain scalars js-yaml's CORE schema reads as something other than the string itself. */
const SPECIAL = /^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$/;
/** Characters that start a YAML construct this parser does not handle (anchors, aliases, tags, directives, ...). */
const INDICATOR = /^[&*!%@`|>?]/;

function splitLines(text: string): Line[] {
  const out: Line[] = [];
  for (const raw0 of text.split('\n')) {
    const raw = raw0.endsWith('\r') ? raw0.slice(0, -1) : raw0;
    let i = 0;
    while (i < raw.length && raw.charCodeAt(i) === 32) i++;
    if (i < raw.length && raw.charCodeAt(i) === 9) throw NO; // tabs in indentation
    const rest = raw.slice(i);
    out.push({ indent: i, text: rest, raw });
  }
  return out;
}

/** A line with content (not blank, not only a comment). */
function isContent(l: Line): boolean {
  return l.text !== '' && l.text[0] !== '#';
}

/** The plain or quoted scalar at the start of `s`, and what follows it. */
function scalar(s: string): unknown {
  if (s === '') return null;
  const c = s[0];
  if (c === '"') return doubleQuoted(s);
  if (c === "'") return singleQuoted(s);
  if (c === '{' || c === '[') return flow(s);
  return plain(s);
}

function stripComment(s: string): string {
  // A plain scalar ends at " #"; quoted scalars are handled by their parsers.
  const i = s.indexOf(' #');
  return (i === -1 ? s : s.slice(0, i)).trimEnd();
}

/** The first line of a multi-line plain scalar, checked as `plain` checks a whole one. */
function plainText(s: string): string {
  const t = s.trimEnd();
  if (t.startsWith('- ') || t.includes(': ') || t.endsWith(':') || t.includes('\t')) throw NO;
  return t;
}

/** Characters a plain scalar may not start with (anchors, tags, block scalars, directives, ...). */
const BAD_FIRST = new Set([...'&*!%@`|>?']);

function plain(s0: string): unknown {
  const s = s0.indexOf(' #') === -1 ? s0 : stripComment(s0);
  if (s === '') return null;
  const c = s.charCodeAt(0);
  if (BAD_FIRST.has(s[0]!) || s.indexOf(': ') !== -1 || s.charCodeAt(s.length - 1) === 58 /* : */ || s.indexOf('\t') !== -1) throw NO;
  if (c === 45 /* - */ && (s.length === 1 || s.charCodeAt(1) === 32)) throw NO;
  // Letters other than those starting null, true, false: a string (the common case, decided at once).
  const lower = c | 32;
  if (lower >= 97 && lower <= 122 && lower !== 110 && lower !== 116 && lower !== 102) return s;
  if (SPECIAL.test(s)) {
    if (s === 'null' || s === '~' || s === 'Null' || s === 'NULL') return null;
    if (s === 'true' || s === 'True' || s === 'TRUE') return true;
    if (s === 'false' || s === 'False' || s === 'FALSE') return false;
    throw NO; // .inf, .nan: rare, left to js-yaml
  }
  if ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46) {
    if (INT.test(s)) {
      const n = Number(s);
      if (!Number.isSafeInteger(n)) throw NO;
      return n;
    }
    if (FLOAT.test(s)) return Number(s);
    // Anything else js-yaml's CORE schema reads as a number (0x1f, 0o17, 017, +1, 1_000, .5, 1.) goes to js-yaml.
    if (YAML_INT.test(s) || YAML_FLOAT.test(s)) throw NO;
  }
  return s;
}

function afterQuoted(rest: string): void {
  const r = rest.trimStart();
  if (r !== '' && r[0] !== '#') throw NO;
}

function singleQuoted(s: string): string {
  let out = '';
  let i = 1;
  for (;;) {
    const j = s.indexOf("'", i);
    if (j === -1) throw NO; // multi-line
    out += s.slice(i, j);
    if (s[j + 1] === "'") { out += "'"; i = j + 2; continue; }
    afterQuoted(s.slice(j + 1));
    return out;
  }
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', '0': '\0', b: '\b', f: '\f', ' ': ' ' };

function doubleQuoted(s: string): string {
  let out = '';
  let i = 1;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"') {
      afterQuoted(s.slice(i + 1));
      return out;
    }
    if (c === '\\') {
      const e = s[i + 1];
      if (e === undefined) throw NO;
      if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16));
        i += 6;
        continue;
      }
      const r = ESCAPES[e];
      if (r === undefined) throw NO;
      out += r;
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
  throw NO; // multi-line
}

/** `{}`, `[]`, or a flow collection that is valid JSON (`["sh", "-c"]`). */
function flow(s0: string): unknown {
  const s = s0.trimEnd();
  if (s === '{}') return {};
  if (s === '[]') return [];
  if (!s.endsWith('}') && !s.endsWith(']')) throw NO;
  try {
    const v = JSON.parse(s);
    // JSON's numbers and strings read the same in YAML; duplicate keys would not: give up on objects.
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) throw NO;
    if (Array.isArray(v) && v.some((x) => typeof x === 'object' && x !== null)) throw NO;
    return v;
  } catch {
    throw NO;
  }
}

/** `key: rest` of a mapping line: the key and the rest, or undefined if the line is not one. */
function mappingEntry(text: string): { key: string; rest: string } | undefined {
  const c = text.charCodeAt(0);
  if (c === 34 /* " */ || c === 39 /* ' */) {
    const q = text[0];
    const end = text.indexOf(q!, 1);
    if (end === -1 || text.charCodeAt(end + 1) !== 58) return undefined;
    const raw = text.slice(0, end + 1);
    const key = q === '"' ? doubleQuoted(raw) : singleQuoted(raw);
    const after = end + 2;
    if (after < text.length && text.charCodeAt(after) !== 32) return undefined;
    return { key, rest: text.slice(after).trimStart() };
  }
  // The first ':' followed by a space or the end of the line ends a plain key.
  let at = text.indexOf(':');
  while (at !== -1 && at + 1 < text.length && text.charCodeAt(at + 1) !== 32) at = text.indexOf(':', at + 1);
  if (at <= 0) return undefined;
  const key = text.slice(0, at);
  if (BAD_FIRST.has(key[0]!) || c === 123 /* { */ || c === 91 /* [ */ || (c === 45 && key.charCodeAt(1) === 32) || key.indexOf(' #') !== -1 || key.charCodeAt(key.length - 1) === 32) throw NO;
  return { key, rest: at + 1 >= text.length ? '' : text.slice(at + 2).trimStart() };
}

const ANCHOR_NAME = /^[A-Za-z0-9_-]+$/;

class Parser {
  private i = 0;
  private readonly anchors = new Map<string, unknown>();
  constructor(private readonly lines: Line[]) {}

  parse(): unknown {
    this.skip();
    if (this.i >= this.lines.length) return null;
    const v = this.node(this.lines[this.i]!.indent);
    this.skip();
    if (this.i < this.lines.length) throw NO;
    return v;
  }

  private skip(): void {
    while (this.i < this.lines.length && !isContent(this.lines[this.i]!)) this.i++;
  }

  /** The block node whose first line is the current one, at exactly `indent`. */
  private node(indent: number): unknown {
    const l = this.lines[this.i]!;
    if (l.indent !== indent) throw NO;
    if (l.text === '-' || l.text.startsWith('- ')) return this.sequence(indent);
    const first = mappingEntry(l.text);
    if (first) return this.mapping(indent, first);
    // A lone scalar document or value on its own line.
    this.i++;
    return scalar(l.text);
  }

  private mapping(indent: number, first?: { key: string; rest: string }): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let pending = first;
    for (;;) {
      this.skip();
      const l = this.lines[this.i];
      if (!l || l.indent < indent) return out;
      if (l.indent > indent) throw NO;
      const e = pending ?? mappingEntry(l.text);
      pending = undefined;
      if (!e) throw NO;
      if (Object.prototype.hasOwnProperty.call(out, e.key) || e.key === '__proto__' || e.key === '<<') throw NO;
      this.i++;
      out[e.key] = this.value(e.rest, indent, true);
    }
  }

  private sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (;;) {
      this.skip();
      const l = this.lines[this.i];
      if (!l || l.indent < indent) return out;
      if (l.indent > indent || !(l.text === '-' || l.text.startsWith('- '))) {
        if (l.indent === indent) return out; // the parent mapping's next key (a sequence at the key's indentation)
        throw NO;
      }
      const rest = l.text === '-' ? '' : l.text.slice(2).trimStart();
      if (rest.startsWith('- ') || rest === '-') throw NO; // nested compact sequences
      const e = rest === '' ? undefined : mappingEntry(rest);
      if (e) {
        // `- key: value` and the item's further keys, indented past the dash.
        const itemIndent = indent + (l.text.length - rest.length);
        const item: Record<string, unknown> = {};
        this.i++;
        item[e.key] = this.value(e.rest, itemIndent, true);
        for (;;) {
          this.skip();
          const n = this.lines[this.i];
          if (!n || n.indent < itemIndent) break;
          if (n.indent > itemIndent) throw NO;
          const ne = mappingEntry(n.text);
          if (!ne) throw NO;
          if (Object.prototype.hasOwnProperty.call(item, ne.key) || ne.key === '__proto__' || ne.key === '<<') throw NO;
          this.i++;
          item[ne.key] = this.value(ne.rest, itemIndent, true);
        }
        out.push(item);
      } else {
        this.i++;
        out.push(this.value(rest, indent, false));
      }
    }
  }

  /**
   * The value after `key:` (or `- `): inline, a literal block scalar, or a block node on the next
   * lines (more indented; for a mapping key also a sequence at the key's own indentation).
   */
  private value(rest: string, indent: number, ofKey: boolean): unknown {
    if (rest[0] === '*') {
      // An alias: the very value its anchor named (as js-yaml gives it).
      const name = stripComment(rest.slice(1));
      if (!ANCHOR_NAME.test(name) || !this.anchors.has(name)) throw NO;
      return this.anchors.get(name);
    }
    if (rest[0] === '&') {
      const m = /^&([^\s,[\]{}]+)(?:\s+(.*))?$/.exec(rest);
      if (!m || !ANCHOR_NAME.test(m[1]!) || (m[2] ?? '').startsWith('&') || (m[2] ?? '').startsWith('*')) throw NO;
      const v = this.value(m[2] ?? '', indent, ofKey);
      this.anchors.set(m[1]!, v);
      return v;
    }
    if (rest !== '' && rest[0] !== '#') {
      if (rest[0] === '|') return this.literal(rest, indent);
      if (rest[0] === '>') throw NO;
      return this.inline(rest, indent);
    }
    this.skip();
    const n = this.lines[this.i];
    if (!n) return null;
    if (n.indent > indent) return this.node(n.indent);
    if (ofKey && n.indent === indent && (n.text === '-' || n.text.startsWith('- '))) return this.sequence(indent);
    return null;
  }

  /**
   * A scalar on the key's (or dash's) line, with the lines that continue it: more indented than
   * `indent`. Continued plain scalars are folded as YAML does (a line break is a space, each
   * blank line a newline); continued quoted scalars and flow collections are left to js-yaml.
   */
  private inline(rest: string, indent: number): unknown {
    let j = this.i;
    let blanks = 0;
    const more: { text: string; blanks: number }[] = [];
    while (j < this.lines.length) {
      const l = this.lines[j]!;
      if (l.text === '') { blanks++; j++; continue; }
      if (l.indent <= indent || l.text[0] === '#') break;
      more.push({ text: l.text, blanks });
      blanks = 0;
      j++;
    }
    if (more.length === 0) return scalar(rest);
    if (rest[0] === '"' || rest[0] === "'" || rest[0] === '{' || rest[0] === '[' || rest.includes(' #') || INDICATOR.test(rest)) throw NO;
    let folded = plainText(rest);
    for (const m of more) {
      const t = m.text.trimEnd();
      if (t.includes(': ') || t.endsWith(':') || t.includes(' #') || t.startsWith('- ') || t === '-' || t.includes('\t')) throw NO;
      folded += m.blanks ? '\n'.repeat(m.blanks) : ' ';
      folded += t;
    }
    if (SPECIAL.test(folded) || YAML_INT.test(folded) || YAML_FLOAT.test(folded)) throw NO;
    this.i = j;
    return folded;
  }

  /** `|`, `|-` or `|+` (no explicit indentation indicator). */
  private literal(header: string, indent: number): string {
    const h = stripComment(header);
    if (h !== '|' && h !== '|-' && h !== '|+') throw NO;
    const body: string[] = [];
    let blockIndent = -1;
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      if (l.text === '') {
        body.push('');
        this.i++;
        continue;
      }
      if (blockIndent === -1) {
        if (l.indent <= indent) break;
        blockIndent = l.indent;
      }
      if (l.indent < blockIndent) break;
      body.push(l.raw.slice(blockIndent));
      this.i++;
    }
    // Blank lines (all spaces) take part only up to the block's indentation.
    let end = body.length;
    while (end > 0 && body[end - 1] === '') end--;
    const trailing = body.length - end;
    const content = body.slice(0, end).join('\n');
    if (end === 0) return h === '|+' ? '\n'.repeat(trailing) : '';
    if (h === '|-') return content;
    if (h === '|+') return `${content}\n${'\n'.repeat(trailing)}`;
    return `${content}\n`;
  }
}

/** The document's value, or undefined when it is not in the subset (then parse it with js-yaml). */
export function parseBlockYaml(text: string): { value: unknown } | undefined {
  try {
    return { value: new Parser(splitLines(text)).parse() };
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}
