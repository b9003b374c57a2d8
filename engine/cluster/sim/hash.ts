/**
 * Deterministic names and hashes: revision hashes of pod templates (same template, same hash,
 * across runs), and pseudo-random name suffixes and uids from a seeded generator, so a test sees
 * the same pod names every time.
 */
import { isPlainObject } from './fields.js';

/** JSON with sorted keys, so equal objects hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** 32-bit FNV-1a. */
export function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The alphabet Kubernetes uses for generated names (no vowels, no look-alikes). */
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** `len` characters of `n` in ALPHABET; 27^5 < 2^32, so five characters use most of a 32-bit value. */
function encode(n: number, len: number): string {
  let s = '';
  let x = n >>> 0;
  for (let i = 0; i < len; i++) {
    s += ALPHABET[x % ALPHABET.length];
    x = Math.floor(x / ALPHABET.length);
  }
  return s;
}

/** A 10-character revision hash of a value, like ControllerRevision names carry. */
export function revisionHash(v: unknown): string {
  const s = canonicalJson(v);
  return encode(fnv32a(s), 5) + encode(fnv32a(`${s}#`), 5);
}

/** A seeded generator (mulberry32) for name suffixes and uids. */
export class Random {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A 5-character name suffix. */
  suffix(): string {
    return encode(this.next(), 5);
  }
  uid(): string {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const a = hex(this.next());
    const b = hex(this.next());
    const c = hex(this.next());
    const d = hex(this.next());
    return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${(8 + (this.next() % 4)).toString(16)}${c.slice(1, 4)}-${c.slice(4)}${d}`;
  }
}
