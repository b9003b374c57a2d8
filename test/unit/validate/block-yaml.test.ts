/**
 * The fast block-YAML parser of `kgitops validate` gives exactly what js-yaml's CORE schema gives,
 * or gives up (undefined) so that js-yaml parses the document: checked on every YAML file of the
 * project (the Kruise CRDs, samples, webhook configurations, fixtures) and on the cases where the
 * two YAML readings are easy to get wrong.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsYaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseBlockYaml } from '../../../engine/validate/block-yaml.js';
import { splitDocuments } from '../../../engine/validate/files.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) { if (e !== 'node_modules' && !e.startsWith('.')) yamlFiles(p, out); } else if (/\.ya?ml$/.test(e)) out.push(p);
  }
  return out;
}

const same = (text: string) => {
  const fast = parseBlockYaml(text);
  let slow: { value: unknown } | { error: string };
  try {
    slow = { value: jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA }) };
  } catch (e) {
    slow = { error: (e as Error).message };
  }
  return { fast, slow };
};

describe('block-YAML parser', () => {
  const files = [...yamlFiles(join(ROOT, 'schemas/sources')), ...yamlFiles(join(ROOT, 'test/fixtures')), ...yamlFiles(join(ROOT, 'examples')).filter((f) => !f.includes('/dist/'))];

  it('agrees with js-yaml on every document of the project\'s YAML, and reads most of them itself', () => {
    let docs = 0;
    let fastOnes = 0;
    for (const f of files) {
      for (const d of splitDocuments(readFileSync(f, 'utf8'))) {
        const { fast, slow } = same(d.text);
        docs++;
        if (!fast) continue;
        fastOnes++;
        expect('value' in slow, `${f}:${d.line} js-yaml fails but the fast parser read it`).toBe(true);
        expect(fast.value, `${f}:${d.line}`).toEqual((slow as { value: unknown }).value);
      }
    }
    expect(files.length).toBeGreaterThan(20);
    expect(fastOnes / docs).toBeGreaterThan(0.8);
  });

  it.each([
    ['numbers and their look-alikes', 'a: 1\nb: -2\nc: 1.5\nd: 1e3\ne: 010\nf: 0x1F\ng: 1_000\nh: 1.2.3\ni: .5\nj: "3"\nk: \'4\'\n'],
    ['booleans and nulls, YAML 1.2 only', 'a: true\nb: False\nc: yes\nd: on\ne: ~\nf: null\ng:\nh: NULL\n'],
    ['quoted strings and escapes', 'a: "x\\ty \\"q\\" \\u00e9"\nb: \'it\'\'s\'\nc: "a # not a comment" # a comment\nd: plain # comment\ne: x#y\n'],
    ['literal blocks', 'a: |\n  line 1\n\n  line 3\nb: |-\n  kept\n  # not a comment\nc: |+\n  tail\n\nd: x\n'],
    ['sequences at a key\'s indentation and compact maps', 'a:\n- b: 1\n  c:\n  - 2\n  - 3\n- d\ne: [1, "two"]\nf: {}\ng: []\n'],
    ['folded blocks and tags: js-yaml\'s', 'a: >\n  folded\n  text\nd: !!str 5\n'],
    ['anchors and aliases on values (as yaml.stringify writes repeated objects)', 'a: &x\n  k: v\nb: *x\nc: &y 1\nd: *y\ne:\n  - &z s\n  - *z\n'],
    ['an alias before its anchor: js-yaml\'s error', 'a: *x\nb: &x 1\n'],
    ['multi-line plain and quoted scalars: js-yaml\'s', 'a: one\n  two\nb: "x\n  y"\n'],
    ['duplicate keys: js-yaml\'s error', 'a: 1\na: 2\n'],
    ['flow mappings: js-yaml\'s', 'a: {b: 1, c: [x, y]}\n'],
    ['Windows line endings', 'a: 1\r\nb:\r\n  - x\r\n'],
    ['keys that look like other things', '"quoted key": 1\n\'single\': 2\n80: http\ntrue: yes\nurl: http://x.example.com:8080/a\n'],
  ])('%s', (_name, text) => {
    const { fast, slow } = same(text);
    if (fast) expect(fast.value).toEqual((slow as { value: unknown }).value);
    else expect(slow).toBeDefined();
  });

  it('reads the common cases itself, and leaves the others to js-yaml', () => {
    expect(parseBlockYaml('a: 1\nb:\n  - x\n')).toEqual({ value: { a: 1, b: ['x'] } });
    expect(parseBlockYaml('a: &x 1\nb: *x\n')).toEqual({ value: { a: 1, b: 1 } });
    expect(parseBlockYaml('a: !!str 1\n')).toBeUndefined();
    expect(parseBlockYaml('a: >\n  f\n')).toBeUndefined();
    expect(parseBlockYaml('a: 1\na: 2\n')).toBeUndefined();
    expect(parseBlockYaml('v: 1.2.3\n')).toEqual({ value: { v: '1.2.3' } });
    expect(parseBlockYaml('v: 010\n')).toBeUndefined();
  });
});
