/**
 * The deterministic YAML writer: whatever it writes, a YAML 1.2 reader and a YAML 1.1 reader
 * (kubectl's go-yaml family) read back as exactly the same data.
 */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { canonicalize, toYaml } from '../../../dsl/output.js';

const TRICKY = [
  '', ' ', 'yes', 'no', 'on', 'off', 'y', 'n', 'true', 'False', 'null', 'Null', '~', '0', '007', '1e3', '0x1F', '0o17', '1_000', '1:20',
  '.5', '-1', '+1', '.inf', '-.inf', '.nan', '2024-01-01', '2024-01-01T10:00:00Z', 'a: b', 'a:b', 'a #b', '#a', '- a', '-a', '? a', '[a]', '{a}',
  'a,b', '*a', '&a', '!a', '%a', '@a', '`a', '|', '>', '"quoted"', "'single'", 'tab\tinside', 'line\nbreak', 'trailing\n', 'two\n\n',
  'trailing space ', ' leading', 'multi\nline\n  indented\n', 'üñíçødé', 'emoji 🚀', 'line\u2028sep', 'bom\ufeff', 'ctrl\u0001', 'del\u007f',
  'http://cart.shop.svc:8080', 'registry.example.com/a/b:1.2.3@sha256:abc', '50%', '100m', 'a=b', 'NaN', 'Infinity', '<<',
];

function roundTrips(value: unknown): void {
  const yaml = toYaml([value]);
  for (const version of ['1.2', '1.1'] as const) {
    const docs = parseAllDocuments(yaml, { version });
    expect(docs.length).toBe(1);
    expect(docs[0].errors).toEqual([]);
    expect(docs[0].toJS(), `YAML ${version}:\n${yaml}`).toEqual(canonicalize(value));
  }
}

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 3 || r < 0.45) {
    const pick = rand();
    if (pick < 0.5) return TRICKY[Math.floor(rand() * TRICKY.length)];
    if (pick < 0.65) return Math.floor(rand() * 2000) - 1000;
    if (pick < 0.7) return rand() * 100;
    if (pick < 0.8) return rand() < 0.5;
    if (pick < 0.85) return null;
    return `s${Math.floor(rand() * 1e6)}`;
  }
  if (r < 0.7) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[rand() < 0.3 ? TRICKY[Math.floor(rand() * TRICKY.length)] : `k${Math.floor(rand() * 100)}`] = randomValue(rand, depth + 1);
  return o;
}

describe('toYaml', () => {
  it.each(TRICKY)('round-trips the string %j as a value and as a key', (s) => {
    roundTrips({ value: s, list: [s], [s]: 1 });
  });

  it('round-trips 500 random documents', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 500; i++) roundTrips({ apiVersion: 'v1', kind: 'ConfigMap', data: randomValue(rand, 0) });
  });

  it('writes Kubernetes keys first and the rest sorted, with no anchors for repeated objects', () => {
    const shared = { a: 1 };
    expect(toYaml([{ spec: { z: 1, b: [shared, shared] }, metadata: { name: 'x' }, kind: 'ConfigMap', apiVersion: 'v1', data: {} }])).toBe(
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nspec:\n  b:\n    - a: 1\n    - a: 1\n  z: 1\ndata: {}\n',
    );
  });

  it('writes multi-line strings as literal blocks', () => {
    expect(toYaml([{ script: 'echo one\necho two\n' }])).toBe('script: |\n  echo one\n  echo two\n');
  });

  it('separates documents', () => {
    expect(toYaml([{ a: 1 }, { b: 2 }])).toBe('a: 1\n---\nb: 2\n');
  });
});
