/**
 * Where a failed app's error is: the first stack frame in the user's code, past node_modules and
 * past kruise-gitops itself (a construct that rejects its props throws from dsl/, but the mistake
 * is on the user's line).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { locateError } from '../../../engine/synth/index.js';

const ENGINE = fileURLToPath(new URL('../../../', import.meta.url));

describe('locateError', () => {
  it('skips the frames of kruise-gitops and of node_modules', () => {
    const stderr = [
      `${ENGINE}dsl/workloads/common.ts:149`,
      '      throw new Error(`${this.scope.node.path}: volume claim template "${props.name}" is defined twice`);',
      '            ^',
      '',
      'Error: web/db: volume claim template "data" is defined twice',
      `    at VolumeClaimTemplates.add (${ENGINE}dsl/workloads/common.ts:149:13)`,
      `    at CloneSet.addVolumeClaimTemplate (file://${ENGINE}dsl/workloads/cloneset.ts:142:24)`,
      '    at Object.<anonymous> (/repo/node_modules/some-construct-lib/index.js:3:1)',
      '    at Object.<anonymous> (/repo/app/lib/db.ts:12:8)',
      '    at node:internal/main/run_main_module:28:49',
    ].join('\n');
    expect(locateError(stderr)).toEqual({ message: 'web/db: volume claim template "data" is defined twice', source: '/repo/app/lib/db.ts:12:8' });
  });

  it('keeps the examples of this repository, which are user code', () => {
    const stderr = `Error: no image\n    at new ShopChart (${ENGINE}examples/lib/shop.ts:20:11)\n`;
    expect(locateError(stderr).source).toBe(`${ENGINE}examples/lib/shop.ts:20:11`);
  });
});
