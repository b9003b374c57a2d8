import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commitAffects, dependencyFiles } from '../../../engine/source/affects.js';
import { GitSource } from '../../../engine/source/git.js';
import { git, initRepo } from '../../fixtures/git.js';

const root = mkdtempSync(join(tmpdir(), 'kgitops-affects-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const write = (p: string, text: string) => {
  mkdirSync(dirname(join(root, p)), { recursive: true });
  writeFileSync(join(root, p), text);
};

describe('what an app of a monorepo depends on', () => {
  write('apps/a/main.ts', "import { labels } from '../../lib/labels';\nimport x from './local.js';\nconst zones = readFileSync(new URL('../../data/zones.json', import.meta.url));\n");
  write('apps/a/local.ts', 'export default 1;\n');
  write('lib/labels.ts', "export * from './names.js';\nexport const labels = {};\n");
  write('lib/names.ts', 'export const names = [];\n');
  write('lib/unused.ts', 'export const unused = 1;\n');
  write('data/zones.json', '[]\n');
  write('apps/b/main.ts', "import '../../lib/unused';\n");
  write('package-lock.json', '{}\n');

  it('follows imports and relative path literals out of the app path, and lists the manifests above it', () => {
    const deps = dependencyFiles(root, 'apps/a');
    expect(deps).toEqual(expect.arrayContaining(['lib/labels.ts', 'lib/names.ts', 'data/zones.json', 'package-lock.json', 'apps/package.json']));
    expect(deps).not.toContain('lib/unused.ts');
    expect(deps.some((d) => d.startsWith('apps/b'))).toBe(false);
    expect(deps.some((d) => d.startsWith('apps/a/'))).toBe(false);
  });

  it('a commit affects the app when it touches its path, a file it reads, or a lockfile above it; not otherwise', () => {
    const dependencies = dependencyFiles(root, 'apps/a');
    const affects = (changed: string[]) => commitAffects({ appPath: 'apps/a', dependencies, changed }).affected;
    expect(affects(['apps/a/main.ts'])).toBe(true);
    expect(affects(['lib/names.ts'])).toBe(true);
    expect(affects(['data/zones.json'])).toBe(true);
    expect(affects(['package-lock.json'])).toBe(true);
    expect(affects(['apps/b/main.ts', 'lib/unused.ts', 'README.md'])).toBe(false);
    expect(affects(['apps/ab/main.ts'])).toBe(false);
    expect(commitAffects({ appPath: 'apps/a', dependencies: undefined, changed: [] }).affected).toBe(true);
  });
});

describe('GitSource.changedPaths', () => {
  it('lists both sides of a rename and paths with spaces and newlines, read from the mirror', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'kgitops-changed-'));
    const cache = mkdtempSync(join(tmpdir(), 'kgitops-changed-cache-'));
    try {
      initRepo(repo);
      writeFileSync(join(repo, 'old.txt'), 'x\n');
      writeFileSync(join(repo, 'keep.txt'), 'k\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', 'one');
      const a = git(repo, 'rev-parse', 'HEAD');
      git(repo, 'mv', 'old.txt', 'new.txt');
      writeFileSync(join(repo, 'odd name\nwith newline.txt'), 'y\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', 'two');
      const b = git(repo, 'rev-parse', 'HEAD');
      const source = new GitSource({ url: repo, cacheDir: cache });
      await source.fetchAll();
      expect((await source.changedPaths(a, b)).sort()).toEqual(['new.txt', 'odd name\nwith newline.txt', 'old.txt']);
      await expect(source.changedPaths('--output=/tmp/x', b)).rejects.toThrow(/not a commit SHA/);
    } finally {
      rmSync(repo, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
