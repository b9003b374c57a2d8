/**
 * git never runs what a commit, code a commit ran, or the user's own configuration chose: hooks
 * planted in the mirror, a tampered mirror config (hooks path, fsmonitor, a smudge filter, url
 * rewrites, protocol.*.allow), a checkout whose .git leads elsewhere, and a global config in
 * $HOME. Each planted program would create a file in `marks/`; the tests check that none did,
 * and that the engine said what it found.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitSource } from '../../../engine/source/index.js';
import { buildGitEnv } from '../../../engine/source/git-env.js';
import { MIRROR_ATTRIBUTES, MIRROR_CONFIG } from '../../../engine/source/mirror.js';
import { commit, git, initRepo, tempDir } from './helpers.js';

let tmp: { dir: string; cleanup(): void };
let work: string;
let cacheDir: string;
let marks: string;
let logs: string[];

beforeEach(() => {
  tmp = tempDir('git-hardening');
  work = initRepo(join(tmp.dir, 'work'));
  cacheDir = join(tmp.dir, 'cache');
  marks = join(tmp.dir, 'marks');
  mkdirSync(marks);
  logs = [];
});
afterEach(() => tmp.cleanup());

function source(): GitSource {
  return new GitSource({ url: work, cacheDir, log: (l) => logs.push(l) });
}

/** An executable that leaves marks/<name> when it runs (and passes its input through, for filters). */
function program(name: string): string {
  const file = join(tmp.dir, 'programs', name);
  mkdirSync(join(tmp.dir, 'programs'), { recursive: true });
  writeFileSync(file, `#!/bin/sh\ntouch '${join(marks, name)}'\ncat\n`);
  chmodSync(file, 0o755);
  return file;
}

function hooksDir(dir: string, names: string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const name of names) {
    writeFileSync(join(dir, name), `#!/bin/sh\ntouch '${join(marks, name)}'\n`);
    chmodSync(join(dir, name), 0o755);
  }
}

const HOOKS = ['post-checkout', 'reference-transaction', 'pre-auto-gc', 'post-index-change', 'post-merge', 'fsmonitor-watchman', 'push-to-checkout'];

function ran(): string[] {
  return readdirSync(marks).sort();
}

describe('hooks planted in the mirror', () => {
  it('never run on fetch or checkout; the mirror is recreated and the log says why', async () => {
    const one = commit(work, { 'app.ts': 'one' }, 'one');
    const src = source();
    await src.fetch();
    await src.checkout(one);
    hooksDir(join(src.mirrorDir, 'hooks'), HOOKS);

    const two = commit(work, { 'app.ts': 'two' }, 'two');
    expect((await src.fetch()).sha).toBe(two);
    const w = await src.checkout(two);
    expect(readFileSync(join(w.dir, 'app.ts'), 'utf8')).toBe('two');
    await src.checkout(one);
    expect(ran()).toEqual([]);
    expect(logs.join('\n')).toMatch(/the mirror of .* was changed by something other than the engine: hooks\/ holds fsmonitor-watchman, post-checkout/);
    expect(existsSync(join(src.mirrorDir, 'hooks'))).toBe(false);
  });

  it('never run when planted between a fetch and a checkout (the checkout recreates the mirror and fetches again)', async () => {
    const one = commit(work, { 'app.ts': 'one' }, 'one');
    const src = source();
    await src.fetch();
    hooksDir(join(src.mirrorDir, 'hooks'), HOOKS);
    const w = await src.checkout(one);
    expect(readFileSync(join(w.dir, 'app.ts'), 'utf8')).toBe('one');
    expect(ran()).toEqual([]);
    expect(logs.join('\n')).toContain('hooks/ holds');
  });
});

describe('a tampered mirror config', () => {
  it.each([
    ['core.hooksPath', () => { hooksDir(join(tmp.dir, 'evil-hooks'), HOOKS); return `[core]\n\thooksPath = ${join(tmp.dir, 'evil-hooks')}\n`; }],
    ['core.fsmonitor', () => `[core]\n\tfsmonitor = ${program('fsmonitor')}\n`],
    ['a smudge filter named by the commit\'s .gitattributes', () => `[filter "evil"]\n\tsmudge = ${program('smudge')}\n\tprocess = ${program('process')}\n\trequired = true\n`],
    ['protocol.ext.allow with a url rewrite to ext::', () => `[protocol "ext"]\n\tallow = always\n[url "ext::${program('ext')} %S "]\n\tinsteadOf = ${work}\n`],
    ['an include of a file with hooks', () => { hooksDir(join(tmp.dir, 'evil-hooks'), HOOKS); writeFileSync(join(tmp.dir, 'included'), `[core]\n\thooksPath = ${join(tmp.dir, 'evil-hooks')}\n`); return `[include]\n\tpath = ${join(tmp.dir, 'included')}\n`; }],
  ])('%s has no effect', async (_what, tamper) => {
    const one = commit(work, { 'app.ts': 'one', '.gitattributes': '* filter=evil\n' }, 'one');
    const src = source();
    await src.fetch();
    await src.checkout(one);
    const config = join(src.mirrorDir, 'config');
    writeFileSync(config, readFileSync(config, 'utf8') + tamper());

    const two = commit(work, { 'app.ts': 'two' }, 'two');
    expect((await src.fetch()).sha).toBe(two);
    const w = await src.checkout(two);
    expect(readFileSync(join(w.dir, 'app.ts'), 'utf8')).toBe('two');
    expect(readFileSync(join(w.dir, '.gitattributes'), 'utf8')).toBe('* filter=evil\n');
    expect(await src.isAncestor(one, two)).toBe(true);
    expect(ran()).toEqual([]);
    expect(logs.join('\n')).toMatch(/was changed by something other than the engine: config was changed \(/);
    // Recreated as the engine writes it.
    expect(readFileSync(config, 'utf8')).toBe(MIRROR_CONFIG);
  });

  it('grafts or alternates in the mirror are found too, and a checkout whose .git leads elsewhere is made again', async () => {
    const one = commit(work, { 'app.ts': 'one' }, 'one');
    const src = source();
    await src.fetch();
    const w = await src.checkout(one);

    // A repository of someone's making, with an fsmonitor, that the checkout's .git now names.
    const evil = join(tmp.dir, 'evil.git');
    execFileSync('git', ['init', '-q', '--bare', evil]);
    writeFileSync(join(evil, 'config'), `[core]\n\tbare = false\n\tfsmonitor = ${program('fsmonitor')}\n\tworktree = ${w.dir}\n`);
    writeFileSync(join(w.dir, '.git'), `gitdir: ${evil}\n`);
    const again = await src.checkout(one);
    expect(readFileSync(join(again.dir, '.git'), 'utf8')).toBe(`gitdir: ${join(src.mirrorDir, 'worktrees', one)}\n`);
    expect(ran()).toEqual([]);

    writeFileSync(join(src.mirrorDir, 'objects', 'info', 'alternates'), `${join(evil, 'objects')}\n`);
    await src.fetch();
    expect(logs.join('\n')).toContain('objects/info/alternates exists');
    expect(existsSync(join(src.mirrorDir, 'objects', 'info', 'alternates'))).toBe(false);
  });
});

describe('the git environment on its own', () => {
  // The integrity check removes all of these before git runs; this proves that even a mirror it
  // missed could not make the engine's git run them.
  it('keeps hooks, fsmonitor, filters and url rewrites of a repository config from doing anything', () => {
    commit(work, { 'app.ts': 'one', '.gitattributes': '* filter=evil\n' }, 'one');
    const repo = join(tmp.dir, 'repo.git');
    execFileSync('git', ['init', '-q', '--bare', repo]);
    hooksDir(join(repo, 'hooks'), HOOKS);
    writeFileSync(join(repo, 'config'), `[core]\n\tbare = true\n\tfsmonitor = ${program('fsmonitor')}\n`
      + `[filter "evil"]\n\tsmudge = ${program('smudge')}\n`
      + `[protocol "ext"]\n\tallow = always\n`);
    mkdirSync(join(repo, 'info'), { recursive: true });
    writeFileSync(join(repo, 'info', 'attributes'), MIRROR_ATTRIBUTES);
    const env = buildGitEnv({ base: process.env, config: [], protocols: ['file'] });
    const run = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

    run(repo, 'fetch', '--quiet', work, '+refs/heads/*:refs/heads/*');
    const dir = join(tmp.dir, 'checkout');
    run(repo, 'worktree', 'add', '--quiet', '--detach', dir, 'main');
    run(dir, 'status', '--porcelain');
    expect(readFileSync(join(dir, 'app.ts'), 'utf8')).toBe('one');
    expect(ran()).toEqual([]);

    // A url rewrite to ext:: is refused for want of the transport, and its program never runs.
    writeFileSync(join(repo, 'config'), `[core]\n\tbare = true\n[url "ext::${program('ext')} %S "]\n\tinsteadOf = ${work}\n`);
    expect(() => run(repo, 'fetch', '--quiet', work, '+refs/heads/*:refs/heads/*')).toThrow(/transport 'ext' not allowed/);
    expect(ran()).toEqual([]);
  });
});

describe('the user\'s own git configuration', () => {
  const saved = { HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });

  it('a global config in $HOME (hooks path, fsmonitor, url rewrite, attributes) is ignored', async () => {
    const one = commit(work, { 'app.ts': 'one' }, 'one');
    const other = initRepo(join(tmp.dir, 'other'));
    commit(other, { 'app.ts': 'not the configured repository' }, 'other');
    const home = join(tmp.dir, 'home');
    hooksDir(join(home, 'hooks'), HOOKS);
    mkdirSync(join(home, '.config', 'git'), { recursive: true });
    const gitconfig = `[core]\n\thooksPath = ${join(home, 'hooks')}\n\tfsmonitor = ${program('fsmonitor')}\n`
      + `[url "${other}"]\n\tinsteadOf = ${work}\n[filter "evil"]\n\tsmudge = ${program('smudge')}\n`;
    writeFileSync(join(home, '.gitconfig'), gitconfig);
    writeFileSync(join(home, '.config', 'git', 'config'), gitconfig);
    writeFileSync(join(home, '.config', 'git', 'attributes'), '* filter=evil\n');
    process.env.HOME = home;
    process.env.XDG_CONFIG_HOME = join(home, '.config');

    const src = source();
    expect((await src.fetch()).sha).toBe(one);
    const w = await src.checkout(one);
    expect(readFileSync(join(w.dir, 'app.ts'), 'utf8')).toBe('one');
    expect(ran()).toEqual([]);
    // What the test planted does work for a git that reads it (so the test can fail).
    git(tmp.dir, 'init', '-q', join(tmp.dir, 'probe'));
    execFileSync('git', ['-C', join(tmp.dir, 'probe'), 'status'], { env: { ...process.env }, stdio: 'ignore' });
    expect(ran()).toContain('fsmonitor');
  });
});
