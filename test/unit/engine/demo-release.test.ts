/** The demo's own release (engine/cli/demo-release.ts): a clone that follows the checkout, where the demo commits. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { demoReleaseRepo, type DemoReleaseRepo } from '../../../engine/cli/demo-release.js';
import { git, initRepo } from '../../fixtures/git.js';

const cleanup: (() => void)[] = [];
afterEach(() => { for (const c of cleanup.splice(0)) c(); });

function checkout(): string {
  const dir = initRepo(mkdtempSync(join(tmpdir(), 'kgitops-demo-checkout-')));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'examples/lib'), { recursive: true });
  writeFileSync(join(dir, 'examples/lib/shop.ts'), "const image = 'registry.example.com/shop/cart:1.9.0';\n");
  writeFileSync(join(dir, 'examples/notes.md'), 'one\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'examples');
  return dir;
}

function clone(dir: string): DemoReleaseRepo {
  const demo = demoReleaseRepo(dir, 'main');
  cleanup.push(() => demo.remove());
  return demo;
}

it('commits the next cart image to its clone, never to the checkout', () => {
  const dir = checkout();
  const head = git(dir, 'rev-parse', 'HEAD');
  const demo = clone(dir);
  expect(demo.ref).toBe('kgitops-demo');
  expect(demo.release()).toBe('registry.example.com/shop/cart:1.9.1');
  expect(readFileSync(join(demo.repo, 'examples/lib/shop.ts'), 'utf8')).toContain('cart:1.9.1');
  expect(git(demo.repo, 'log', '-1', '--format=%s')).toBe('demo: release cart:1.9.1 (kgitops demo; --no-demo-release skips it)');
  expect(git(dir, 'rev-parse', 'HEAD')).toBe(head);
  expect(git(dir, 'status', '--porcelain')).toBe('');
});

it('merges what the checkout commits; a conflict is said once, and the clone stays as it was', () => {
  const dir = checkout();
  const demo = clone(dir);
  demo.release();
  expect(demo.follow()).toEqual({ merged: false });
  writeFileSync(join(dir, 'examples/notes.md'), 'two\n');
  git(dir, 'commit', '-q', '-am', 'notes');
  expect(demo.follow()).toEqual({ merged: true });
  expect(readFileSync(join(demo.repo, 'examples/notes.md'), 'utf8')).toBe('two\n');
  expect(readFileSync(join(demo.repo, 'examples/lib/shop.ts'), 'utf8')).toContain('cart:1.9.1');
  // The same line changed in both: not merged, and said once.
  writeFileSync(join(dir, 'examples/lib/shop.ts'), "const image = 'registry.example.com/shop/cart:2.0.0';\n");
  git(dir, 'commit', '-q', '-am', 'cart 2');
  const before = git(demo.repo, 'rev-parse', 'HEAD');
  const first = demo.follow();
  expect(first.merged).toBe(false);
  expect(first.problem).toMatch(/^could not merge commit [0-9a-f]{12} of the checkout into the demo's clone .*; run npm start -- --no-demo-release to watch the checkout itself$/);
  expect(demo.follow()).toEqual({ merged: false });
  expect(git(demo.repo, 'rev-parse', 'HEAD')).toBe(before);
  expect(git(demo.repo, 'status', '--porcelain')).toBe('');
});

it('starts no release when the examples declare no cart image', () => {
  const dir = checkout();
  writeFileSync(join(dir, 'examples/lib/shop.ts'), "const image = 'nginx:1';\n");
  git(dir, 'commit', '-q', '-am', 'no cart');
  const demo = clone(dir);
  expect(demo.release()).toBeUndefined();
});
