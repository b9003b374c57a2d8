/**
 * Deterministic manifest output: the same objects always give byte-identical YAML, so that
 * synthesized files diff cleanly in pull requests (sorted keys, no timestamps, no anchors).
 *
 * Manifests are plain JSON data, so this is a small block-style emitter rather than a general
 * YAML library (which was 80% of synth time at 10,000 objects). Strings are written plain only
 * when no YAML 1.1 or 1.2 reader could take them for anything but a string; otherwise they are
 * double-quoted with JSON escapes (valid YAML), or written as literal blocks when multi-line.
 * Tests parse the output back with a full YAML parser.
 */

const TOP_LEVEL_ORDER = ['apiVersion', 'kind', 'metadata', 'spec'];

function compareTopLevel(a: string, b: string): number {
  const ia = TOP_LEVEL_ORDER.indexOf(a);
  const ib = TOP_LEVEL_ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedKeys(o: Record<string, unknown>, top: boolean): string[] {
  const keys = Object.keys(o).filter((k) => o[k] !== undefined);
  return keys.sort(top ? compareTopLevel : undefined);
}

/** A deep copy with object keys in output order (apiVersion, kind, metadata, spec first at the top), undefined dropped. */
export function canonicalize(value: unknown, top = true): unknown {
  if (Array.isArray(value)) return value.map((v) => canonicalize(v, false));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of sortedKeys(value as Record<string, unknown>, top)) out[k] = canonicalize((value as Record<string, unknown>)[k], false);
  return out;
}

/** Multi-document YAML of already-ordered objects. */
export function toYaml(objects: readonly unknown[]): string {
  return objects.map((o) => emitDocument(o)).join('---\n');
}

function emitDocument(o: unknown): string {
  const lines: string[] = [];
  if (o !== null && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length > 0) {
    emitMap(o as Record<string, unknown>, '', lines, true);
  } else {
    lines.push(scalarOrEmpty(o));
  }
  return `${lines.join('\n')}\n`;
}

function isEmptyCollection(v: unknown): boolean {
  return v !== null && typeof v === 'object' && (Array.isArray(v) ? v.length === 0 : Object.keys(v).every((k) => (v as Record<string, unknown>)[k] === undefined));
}

function scalarOrEmpty(v: unknown): string {
  if (Array.isArray(v)) return '[]';
  if (v !== null && typeof v === 'object') return '{}';
  return scalar(v);
}

function emitMap(o: Record<string, unknown>, indent: string, lines: string[], top: boolean): void {
  for (const k of sortedKeys(o, top)) {
    const v = o[k];
    const key = `${indent}${scalar(k)}:`;
    if (v !== null && typeof v === 'object' && !isEmptyCollection(v)) {
      if (Array.isArray(v)) {
        lines.push(key);
        emitSeq(v, `${indent}  `, lines);
      } else {
        lines.push(key);
        emitMap(v as Record<string, unknown>, `${indent}  `, lines, false);
      }
    } else if (typeof v === 'string' && isBlockCandidate(v)) {
      lines.push(`${key} ${blockHeader(v)}`);
      pushBlock(v, `${indent}  `, lines);
    } else {
      lines.push(`${key} ${scalarOrEmpty(v)}`);
    }
  }
}

function emitSeq(a: unknown[], indent: string, lines: string[]): void {
  for (const v of a) {
    if (v !== null && typeof v === 'object' && !isEmptyCollection(v)) {
      const sub: string[] = [];
      if (Array.isArray(v)) emitSeq(v, `${indent}  `, sub);
      else emitMap(v as Record<string, unknown>, `${indent}  `, sub, false);
      // First line of the item goes after the dash.
      lines.push(`${indent}- ${sub[0].slice(indent.length + 2)}`);
      for (let i = 1; i < sub.length; i++) lines.push(sub[i]);
    } else if (typeof v === 'string' && isBlockCandidate(v)) {
      lines.push(`${indent}- ${blockHeader(v)}`);
      pushBlock(v, `${indent}  `, lines);
    } else {
      lines.push(`${indent}- ${scalarOrEmpty(v)}`);
    }
  }
}

/** Multi-line strings that a literal block reproduces exactly. */
function isBlockCandidate(s: string): boolean {
  return s.includes('\n') && !/^[ \n]/.test(s) && !/[^\n\t\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]/.test(s) && !/[ \t]\n/.test(s) && !/[ \t]$/.test(s);
}

function blockHeader(s: string): string {
  if (!s.endsWith('\n')) return '|-';
  return s.endsWith('\n\n') ? '|+' : '|';
}

function pushBlock(s: string, indent: string, lines: string[]): void {
  const body = s.endsWith('\n') ? s.slice(0, -1) : s;
  for (const line of body.split('\n')) lines.push(line === '' ? '' : `${indent}${line}`);
}

/** Words that YAML 1.1 readers (kubectl's go-yaml v2 among them) take for booleans or null. */
const RESERVED = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~|)$/;
/** Conservative plain-scalar alphabet: must start with a letter, `/` or `_`, no `: `, ` #` or flow indicators. */
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./@+-]*(?:[ :=][A-Za-z0-9_./@+=-]+)*$/;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} to YAML`);
    return String(v);
  }
  if (typeof v !== 'string') throw new Error(`cannot write ${typeof v} to YAML`);
  if (PLAIN.test(v) && !RESERVED.test(v) && !v.includes(': ') && !v.endsWith(':') && !/^[+-]/.test(v)) return v;
  return quote(v);
}

/** JSON string escapes are valid in YAML double-quoted scalars; also escape what JSON leaves raw but YAML forbids. */
function quote(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
