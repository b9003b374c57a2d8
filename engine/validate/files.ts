/**
 * Existing YAML (kubectl manifests, Helm output, JSON) read for `kgitops validate`, with the
 * line each object starts on, and later the line of the field a diagnostic is about.
 *
 * Speed matters here (tens of thousands of objects): a file is cut into its documents at the
 * `---` / `...` markers (the YAML spec forbids them at the start of a line inside a scalar, so a
 * line-wise cut is exact), each document is parsed with js-yaml, the fast loader, and only a
 * document with something to report is parsed again with `yaml`, whose AST has positions.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import jsYaml from 'js-yaml';
import { parseBlockYaml } from './block-yaml.js';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Diagnostic } from '../../dsl/diagnostics.js';

/** One object of a file: a document, or an item of a document of `kind: List`. */
export interface FileObject {
  readonly manifest: Record<string, any>;
  /** The file as given or found (relative to the working directory when under it), `-` for stdin. */
  readonly file: string;
  /** 1-based line where the object starts. */
  readonly line: number;
  /** The document's text and its first line (to find a field's line when there is something to say). */
  readonly document: { readonly text: string; readonly line: number };
  /** Path of the object inside its document (`items[3]` of a List), as YAML keys. */
  readonly within: readonly (string | number)[];
}

export interface ReadResult {
  readonly objects: FileObject[];
  /** Files that could not be read, documents that are not YAML, or not objects. */
  readonly problems: Diagnostic[];
  /** Documents skipped in files found by walking a directory (they are not Kubernetes objects). */
  readonly skipped: number;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;
/** Files in a walked directory that are never manifests. */
const NOT_MANIFESTS = new Set(['package.json', 'package-lock.json', 'cdk8s.yaml', 'kgitops.yaml', 'Chart.yaml', 'Chart.lock', 'kustomization.yaml', 'kustomization.yml', '.pre-commit-config.yaml']);

/**
 * The files to read: files as given, directories walked (YAML and JSON files; not hidden
 * directories, node_modules, or files that are never manifests). Throws for a path that does
 * not exist.
 */
export function manifestFiles(paths: readonly string[]): { file: string; walked: boolean }[] {
  const out: { file: string; walked: boolean }[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('.') && entry.name !== 'node_modules') walk(p);
      } else if (MANIFEST_FILE.test(entry.name) && !NOT_MANIFESTS.has(entry.name) && !/^values.*\.ya?ml$|^tsconfig.*\.json$/.test(entry.name)) {
        out.push({ file: p, walked: true });
      }
    }
  };
  for (const p of paths) {
    if (p === '-') {
      out.push({ file: '-', walked: false });
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new PathError(p);
    }
    if (st.isDirectory()) walk(p);
    else out.push({ file: p, walked: false });
  }
  return out;
}

export class PathError extends Error {
  constructor(readonly path: string) {
    super(`${path}: no such file or directory`);
  }
}

/** The name shown for a file: relative to the working directory when under it. */
export function displayName(file: string): string {
  if (file === '-') return '-';
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** Cuts YAML text into documents at `---` and `...` lines, with each one's first line. */
export function splitDocuments(text: string): { text: string; line: number }[] {
  const docs: { text: string; line: number }[] = [];
  let start = 0;
  let startLine = 1;
  let line = 1;
  let pos = 0;
  const push = (end: number) => {
    const t = text.slice(start, end);
    if (t.trim()) docs.push({ text: t, line: startLine });
  };
  while (pos <= text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl === -1 ? text.length : nl;
    if (text.startsWith('---', pos) || text.startsWith('...', pos)) {
      const rest = text.slice(pos + 3, end);
      if (rest === '' || rest === '\r' || /^[ \t]/.test(rest)) {
        push(pos);
        // `--- {a: 1}` or `--- |` : the document starts on the marker's line, after it.
        const after = text.startsWith('---', pos) && rest.trim() && !rest.trim().startsWith('#');
        start = after ? pos + 3 : end + 1;
        startLine = after ? line : line + 1;
      }
    }
    if (nl === -1) break;
    pos = nl + 1;
    line++;
  }
  push(text.length);
  return docs;
}

const CONTENT = /^[ \t]*[^\s#]/m;

/** Whether a document's text is only comments and blank lines (Helm leaves those behind). */
function onlyComments(text: string): boolean {
  return !CONTENT.test(text);
}

/** The line of a document's first content (past comments and blank lines), 1-based. */
function firstContentLine(doc: { text: string; line: number }): number {
  const m = CONTENT.exec(doc.text);
  if (!m) return doc.line;
  let line = doc.line;
  for (let i = doc.text.indexOf('\n'); i !== -1 && i < m.index; i = doc.text.indexOf('\n', i + 1)) line++;
  return line;
}

/** Reads the objects of one file's text. */
export function readManifests(text: string, file: string, o: { walked?: boolean } = {}): ReadResult {
  const objects: FileObject[] = [];
  const problems: Diagnostic[] = [];
  let skipped = 0;
  const json = /\.json$/i.test(file);
  const docs = json ? [{ text, line: 1 }] : splitDocuments(text);
  for (const doc of docs) {
    if (!json && onlyComments(doc.text)) continue;
    let value: unknown;
    try {
      // Block-style YAML (what kubectl and Helm write) by the fast reader, the rest by js-yaml: the same values.
      value = json ? JSON.parse(doc.text) : (parseBlockYaml(doc.text) ?? { value: jsYaml.load(doc.text, { schema: jsYaml.CORE_SCHEMA }) }).value;
    } catch (e) {
      const mark = (e as { mark?: { line?: number } }).mark;
      const where = mark?.line !== undefined ? doc.line + mark.line : firstContentLine(doc);
      problems.push({
        severity: 'error', rule: 'yaml/syntax', source: `${file}:${where}`,
        message: `not valid ${json ? 'JSON' : 'YAML'}: ${((e as { reason?: string }).reason ?? (e as Error).message).split('\n')[0]}`,
        hint: 'fix the syntax; nothing of this document was checked',
      });
      continue;
    }
    if (value === null || value === undefined) continue;
    const line = firstContentLine(doc);
    if (typeof value !== 'object' || Array.isArray(value)) {
      if (o.walked) { skipped++; continue; }
      problems.push({ severity: 'error', rule: 'schema/not-an-object', source: `${file}:${line}`, message: 'this document is not an object, so not a Kubernetes manifest' });
      continue;
    }
    const m = value as Record<string, any>;
    // In a walked directory, YAML that is not a Kubernetes object at all (CI config, Helm values) is skipped.
    if (o.walked && m.apiVersion === undefined && m.kind === undefined) { skipped++; continue; }
    if (typeof m.kind === 'string' && m.kind.endsWith('List') && Array.isArray(m.items) && m.apiVersion === 'v1') {
      m.items.forEach((item: Record<string, any>, i: number) => {
        objects.push({ manifest: item, file, line, document: doc, within: ['items', i] });
      });
      continue;
    }
    objects.push({ manifest: m, file, line, document: doc, within: [] });
  }
  return { objects, problems, skipped };
}

/** Reads a file (or stdin for `-`). */
export function readManifestFile(f: { file: string; walked: boolean }): ReadResult {
  const name = displayName(f.file);
  let text: string;
  try {
    text = readFileSync(f.file === '-' ? 0 : f.file, 'utf8');
  } catch (e) {
    return { objects: [], skipped: 0, problems: [{ severity: 'error', rule: 'file/unreadable', source: name, message: `cannot read the file: ${(e as Error).message}` }] };
  }
  return readManifests(text, name, { walked: f.walked });
}

/** `spec.template.spec.containers[0]["app.kubernetes.io/name"]` as keys. */
export function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]) as string);
    if (re.lastIndex >= path.length) break;
  }
  return out;
}

/**
 * Finds the lines of JSON paths in an object's document: the deepest node of each path that the
 * YAML has (a missing field: the line of its parent). One parse per document, with positions.
 */
export class FieldLines {
  /** The last document parsed: an object's diagnostics come together, and thousands of ASTs would not fit. */
  private last?: { text: string; doc: ReturnType<typeof parseDocument>; counter: LineCounter };

  lineOf(o: FileObject, path: string | undefined): number {
    if (!path) return o.line;
    const keys = [...o.within, ...pathSegments(path)];
    // Block-style YAML (nearly all manifests) is read line by line; flow style, JSON, or a
    // field that is not there (the line of its parent) go through the YAML parser.
    const fast = blockLineOf(o.document.text, keys);
    if (fast !== undefined) return o.document.line + fast;
    if (this.last?.text !== o.document.text) this.last = parsed(o.document.text);
    const line = astLineOf(this.last, keys);
    return line === undefined ? o.line : o.document.line + line;
  }
}

function parsed(text: string): { text: string; doc: ReturnType<typeof parseDocument>; counter: LineCounter } {
  const counter = new LineCounter();
  return { text, doc: parseDocument(text, { lineCounter: counter, keepSourceTokens: false }), counter };
}

/** The 0-based line of the deepest node of `keys` that the document has, by its AST (undefined: not even the first). */
export function astLineOf(p: { doc: ReturnType<typeof parseDocument>; counter: LineCounter } | string, keys: readonly (string | number)[]): number | undefined {
  const { doc, counter } = typeof p === 'string' ? parsed(p) : p;
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const key of keys) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      offset = (pair.key as { range?: [number, number, number] }).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as { range?: [number, number, number] } | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : counter.linePos(offset).line - 1;
}

/** Indentation of a line, or -1 for a blank or comment line. */
function indentOf(line: string): number {
  let i = 0;
  while (i < line.length && line[i] === ' ') i++;
  return i === line.length || line[i] === '#' || line[i] === '\r' ? -1 : i;
}

/** Whether `content` (a line from its indentation) starts the mapping key `key`. */
function startsKey(content: string, key: string): boolean {
  for (const form of [key, `"${key}"`, `'${key}'`]) {
    if (content.startsWith(form) && (content[form.length] === ':') && (content.length === form.length + 1 || content[form.length + 1] === ' ' || content[form.length + 1] === '\r')) return true;
  }
  return false;
}

/**
 * The 0-based line (within the document) of the node at `keys`, read from block-style YAML by
 * indentation alone; undefined when a step is not found that way.
 */
export function blockLineOf(text: string, keys: readonly (string | number)[]): number | undefined {
  const lines = text.split('\n');
  // The block being searched: lines [from, to), its first line's content starting at column `first`
  // (past a `- ` of a sequence item), the rest indented more than `parent`.
  let from = 0;
  let to = lines.length;
  let first = -1;
  let found = -1;
  for (const key of keys) {
    // The indentation of the block's entries: its first content line's.
    let at = -1;
    let entryIndent = -1;
    for (let i = from; i < to; i++) {
      const ind = i === from && first >= 0 ? first : indentOf(lines[i]!);
      if (ind >= 0) { entryIndent = ind; break; }
    }
    if (entryIndent < 0) return undefined;
    if (typeof key === 'number') {
      let n = -1;
      for (let i = from; i < to; i++) {
        const ind = i === from && first >= 0 ? first : indentOf(lines[i]!);
        if (ind !== entryIndent) continue;
        const content = lines[i]!.slice(ind);
        if (!(content === '-' || content.startsWith('- '))) return undefined;
        if (++n === key) { at = i; break; }
      }
      if (at < 0) return undefined;
      const dash = (at === from && first >= 0 ? first : indentOf(lines[at]!));
      let itemStart = dash + 1;
      while (lines[at]![itemStart] === ' ') itemStart++;
      from = at;
      first = lines[at]!.length > itemStart ? itemStart : -1;
      if (first < 0) from = at + 1;
      to = blockEnd(lines, at, dash, to, true);
    } else {
      for (let i = from; i < to; i++) {
        const ind = i === from && first >= 0 ? first : indentOf(lines[i]!);
        if (ind !== entryIndent) continue;
        if (startsKey(lines[i]!.slice(ind), key)) { at = i; break; }
      }
      if (at < 0) return undefined;
      const keyIndent = at === from && first >= 0 ? first : indentOf(lines[at]!);
      const rest = lines[at]!.slice(keyIndent + key.length + 1).trim();
      from = at + 1;
      first = -1;
      to = blockEnd(lines, at, keyIndent, to, false);
      // `key: value` on one line, or a flow collection: nothing below it to search.
      if (rest && !rest.startsWith('#') && !rest.startsWith('|') && !rest.startsWith('>')) to = from;
    }
    found = at;
  }
  return found >= 0 ? found : undefined;
}

/** Where the block of the entry at line `at` (indented `indent`) ends. */
function blockEnd(lines: readonly string[], at: number, indent: number, limit: number, item: boolean): number {
  for (let i = at + 1; i < limit; i++) {
    const ind = indentOf(lines[i]!);
    if (ind < 0) continue;
    if (ind < indent) return i;
    if (ind === indent) {
      // A sequence under a key may sit at the key's own indentation (`key:\n- a`).
      const isItem = lines[i]!.startsWith('-', ind);
      if (item || !isItem) return i;
    }
  }
  return limit;
}
