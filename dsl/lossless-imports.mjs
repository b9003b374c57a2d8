#!/usr/bin/env node
/**
 * Rewrites the `toJson_*` functions that `cdk8s import` generates (dsl/imports/*.ts) so that they
 * lose nothing (see dsl/l1-json.ts for why): unknown fields are kept, int-or-string fields take
 * plain values too, and a value of the wrong shape is passed on for the schema to reject.
 * Run by dsl/generate-imports.sh on the fresh output; idempotent.
 *   node dsl/lossless-imports.mjs dsl/imports/apps.kruise.io.ts ...
 */
import { readFileSync, writeFileSync } from 'node:fs';

const IMPORT = "import { mapItems, notAnObject, unionValue, unknownFields } from '../l1-json.js';";
const MARK = '// lossless: dsl/lossless-imports.mjs';

export function rewrite(source) {
  if (source.includes(MARK)) return source;
  const lines = source.split('\n');
  const out = [];
  let inResult = false;
  let known = [];
  for (const line of lines) {
    if (line === "import { Construct } from 'constructs';") {
      out.push(line, IMPORT, MARK);
      continue;
    }
    if (line === '  if (obj === undefined) { return undefined; }') {
      out.push(line, '  if (notAnObject(obj)) { return obj as any; }');
      continue;
    }
    if (line === '  const result = {') {
      inResult = true;
      known = [];
      out.push(line);
      continue;
    }
    if (inResult && line === '  };') {
      inResult = false;
      out.push(`    ...unknownFields(obj, [${known.map((k) => `'${k}'`).join(', ')}]),`, line);
      continue;
    }
    if (inResult) {
      const field = /^    '[^']+': .*?\bobj\.(\w+)/.exec(line);
      if (!field) throw new Error(`unexpected line in a generated toJson_ function: ${line}`);
      known.push(field[1]);
      out.push(line
        .replace(/\bobj\.(\w+)\?\.value\b/g, 'unionValue(obj.$1)')
        .replace(/\by => y\?\.value\b/g, 'y => unionValue(y)')
        .replace(/\bobj\.(\w+)\?\.map\(/g, 'mapItems(obj.$1, '));
      continue;
    }
    out.push(line);
  }
  if (!out.includes(MARK)) throw new Error('the generated file has no `import { Construct } from \'constructs\';` line');
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const file of process.argv.slice(2)) writeFileSync(file, rewrite(readFileSync(file, 'utf8')));
}
