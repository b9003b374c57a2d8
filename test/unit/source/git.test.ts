/**
 * GitSource against real repositories made with git in a temp directory: ref kinds, new commits,
 * checkouts and their repair, force-push detection, and the failure kinds.
 */
import { existsSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitSource, SourceError, type GitSourceOptions } from '../../../engine/source/index.js';
import { closedPort, commit, git, gitProcessesLeft, failure, initRepo, startSilentServer, tempDir } from './helpers.js';

let tmp: { dir: string; cleanup(): void };
let work: string;
let cacheDir: string;

beforeEach(() => {
  tmp = tempDir('git');
  work = initRepo(join(tmp.dir, 'work'));
  cacheDir = join(tmp.dir, 'cache');
});
afterEach(() => tmp.cleanup());

function source(options: Partial<GitSourceOptions> = {}): GitSource {
  return new GitSource({ url: work, cacheDir, ...options });
}

describe('ref resolution', () => {
  it('resolves a branch to its commit with message, author and time', async () => {
    const sha = commit(work, { 'app.ts': 'v1' }, 'first version\n\nwith a body');
    const rev = await source({ ref: 'main' }).fetch();
    expect(rev).toEqual({
      sha,
      ref: 'main',
      refName: 'refs/heads/main',
      message: 'first version',
      author: 'Test Author <author@example.com>',
      time: new Date(git(work, 'log', '-1', '--format=%cI')).toISOString(),
    });
  });

  it('without a ref follows the remote\'s default branch (its HEAD), which need not be main', async () => {
    commit(work, { a: '1' }, 'on main');
    git(work, 'checkout', '-q', '-b', 'master');
    const onMaster = commit(work, { a: '2' }, 'on master');
    const rev = await source().fetch();
    expect(rev).toMatchObject({ sha: onMaster, ref: 'HEAD', refName: 'refs/heads/master', defaultBranch: true, message: 'on master' });
    // An explicit ref still wins.
    const main = await source({ ref: 'main' }).fetch();
    expect(main.refName).toBe('refs/heads/main');
    expect(main.sha).not.toBe(onMaster);
    expect(main.defaultBranch).toBeUndefined();
  });

  it('a repo created with master as its only branch syncs without a ref', async () => {
    const bare = join(tmp.dir, 'origin.git');
    git(tmp.dir, 'init', '-q', '--bare', '-b', 'master', bare);
    git(work, 'checkout', '-q', '-b', 'master');
    const sha = commit(work, { a: '1' }, 'first');
    git(work, 'push', '-q', bare, 'master');
    const rev = await new GitSource({ url: bare, cacheDir }).fetch();
    expect(rev).toMatchObject({ sha, refName: 'refs/heads/master', defaultBranch: true });
  });

  it('follows a change of the default branch on the next fetch', async () => {
    const bare = join(tmp.dir, 'origin.git');
    git(tmp.dir, 'init', '-q', '--bare', '-b', 'main', bare);
    const first = commit(work, { a: '1' }, 'one');
    git(work, 'push', '-q', bare, 'main');
    git(work, 'checkout', '-q', '-b', 'trunk');
    const onTrunk = commit(work, { a: '2' }, 'two');
    git(work, 'push', '-q', bare, 'trunk');
    const s = new GitSource({ url: bare, cacheDir });
    expect((await s.fetch()).sha).toBe(first);
    git(bare, 'symbolic-ref', 'HEAD', 'refs/heads/trunk');
    expect(await s.fetch()).toMatchObject({ sha: onTrunk, refName: 'refs/heads/trunk' });
  });

  it('a HEAD detached at a commit is followed as that commit; an empty repo says it has no default branch', async () => {
    const first = commit(work, { a: '1' }, 'one');
    commit(work, { a: '2' }, 'two');
    git(work, 'checkout', '-q', '--detach', first);
    expect(await source().fetch()).toMatchObject({ sha: first, ref: 'HEAD', refName: null, defaultBranch: true });
    const empty = join(tmp.dir, 'empty.git');
    git(tmp.dir, 'init', '-q', '--bare', empty);
    const e = await failure(new GitSource({ url: empty, cacheDir }).fetch());
    expect(e.kind).toBe('ref-not-found');
    expect(e.message).toContain('has no default branch');
    expect(e.hint).toContain('set ref to a branch, tag or commit SHA');
  });

  it('a HEAD naming a branch without commits: the only branch there is, or, with several, which exist', async () => {
    // `git init --bare` (HEAD master) that only main was pushed to: git advertises no HEAD at all.
    const bare = join(tmp.dir, 'origin.git');
    git(tmp.dir, 'init', '-q', '--bare', '-b', 'master', bare);
    const onMain = commit(work, { a: '1' }, 'one');
    git(work, 'push', '-q', bare, 'main');
    expect(await new GitSource({ url: bare, cacheDir }).fetch()).toMatchObject({ sha: onMain, refName: 'refs/heads/main', defaultBranch: true });
    git(work, 'push', '-q', bare, 'main:release');
    const e = await failure(new GitSource({ url: bare, cacheDir }).fetch());
    expect(e.kind).toBe('ref-not-found');
    expect(e.message).toMatch(/has no usable default branch: its HEAD names a branch without commits; branches: main, release/);
    expect(e.hint).toBe('set ref to an existing branch, tag or commit SHA');
  });

  it('dereferences an annotated tag to its commit, and resolves a lightweight tag', async () => {
    const tagged = commit(work, { a: '1' }, 'release 1');
    git(work, 'tag', '-a', 'v1.0.0', '-m', 'annotated');
    git(work, 'tag', 'light');
    commit(work, { a: '2' }, 'after the tags');
    const annotatedObject = git(work, 'rev-parse', 'v1.0.0');
    expect(annotatedObject).not.toBe(tagged);

    const annotated = await source({ ref: 'v1.0.0' }).fetch();
    expect(annotated.sha).toBe(tagged);
    expect(annotated.refName).toBe('refs/tags/v1.0.0');
    expect(annotated.message).toBe('release 1');
    expect((await source({ ref: 'light' }).fetch()).sha).toBe(tagged);
    expect((await source({ ref: 'refs/tags/v1.0.0' }).fetch()).sha).toBe(tagged);
  });

  it('resolves full and abbreviated commit SHAs, including one no branch reaches any more', async () => {
    const first = commit(work, { a: '1' }, 'one');
    commit(work, { a: '2' }, 'two');
    const full = await source({ ref: first }).fetch();
    expect(full).toMatchObject({ sha: first, ref: first, refName: null, message: 'one' });
    expect((await source({ ref: first.slice(0, 9) }).fetch()).sha).toBe(first);

    // A commit only reachable from a deleted branch, in a fresh cache: fetched by its id.
    git(work, 'checkout', '-q', '-b', 'side');
    const orphan = commit(work, { b: 'x' }, 'on a branch that goes away');
    git(work, 'checkout', '-q', 'main');
    git(work, 'config', 'uploadpack.allowAnySHA1InWant', 'true');
    git(work, 'branch', '-q', '-D', 'side');
    const fresh = new GitSource({ url: work, cacheDir: join(tmp.dir, 'cache2'), ref: orphan });
    expect((await fresh.fetch()).sha).toBe(orphan);
  });

  it('follows a full ref outside heads and tags (a pull request head)', async () => {
    commit(work, { a: '1' }, 'one');
    git(work, 'checkout', '-q', '-b', 'pr');
    const prHead = commit(work, { a: 'pr' }, 'proposed change');
    git(work, 'checkout', '-q', 'main');
    git(work, 'update-ref', 'refs/pull/1/head', prHead);
    git(work, 'branch', '-q', '-D', 'pr');
    expect(await source({ ref: 'refs/pull/1/head' }).fetch()).toMatchObject({ sha: prHead, refName: 'refs/pull/1/head' });
    const err = await failure(source({ ref: 'refs/pull/2/head' }).fetch());
    expect(err.kind).toBe('ref-not-found');
    expect(err.message).toContain("ref 'refs/pull/2/head' not found in");
  });

  it('prefers a branch over a tag of the same name', async () => {
    const tagged = commit(work, { a: '1' }, 'one');
    git(work, 'tag', 'stable');
    git(work, 'branch', 'stable');
    const branchHead = (git(work, 'checkout', '-q', 'stable'), commit(work, { a: '2' }, 'on stable'));
    const rev = await source({ ref: 'stable' }).fetch();
    expect(rev.sha).toBe(branchHead);
    expect(rev.sha).not.toBe(tagged);
    expect(rev.refName).toBe('refs/heads/stable');
  });

  it('says which branches and tags exist when the ref is not found, with a suggestion', async () => {
    commit(work, { a: '1' }, 'one');
    git(work, 'branch', 'release');
    git(work, 'tag', 'v1');
    const err = await failure(source({ ref: 'relese' }).fetch());
    expect(err.kind).toBe('ref-not-found');
    expect(err.message).toBe(`ref 'relese' not found in ${work} (did you mean 'release'?); branches: main, release; tags: v1`);
  });

  it('reports a branch deleted upstream as not found', async () => {
    commit(work, { a: '1' }, 'one');
    git(work, 'branch', 'feature');
    const src = source({ ref: 'feature' });
    await src.fetch();
    git(work, 'branch', '-q', '-D', 'feature');
    expect((await failure(src.fetch())).kind).toBe('ref-not-found');
  });

  it('rejects invalid ref names before running git', () => {
    for (const ref of ['-x', 'a..b', 'has space', 'x:y', 'end.lock', 'refs/heads/']) {
      let error: unknown;
      try { source({ ref }); } catch (e) { error = e; }
      expect(error, ref).toBeInstanceOf(SourceError);
      expect((error as SourceError).kind).toBe('ref-not-found');
    }
  });
});

describe('fetching changes', () => {
  it('sees a new commit on the next fetch, and is fast when nothing changed', async () => {
    const one = commit(work, { a: '1' }, 'one');
    const src = source();
    expect((await src.fetch()).sha).toBe(one);

    const started = performance.now();
    expect((await src.fetch()).sha).toBe(one);
    const unchangedMs = performance.now() - started;
    expect(unchangedMs).toBeLessThan(1000);

    const two = commit(work, { a: '2' }, 'two');
    const rev = await src.fetch();
    expect(rev.sha).toBe(two);
    expect(rev.message).toBe('two');
  });

  it('serializes concurrent calls on one mirror', async () => {
    const sha = commit(work, { a: '1' }, 'one');
    const a = source();
    const b = source();
    const results = await Promise.all([a.fetch(), b.fetch(), a.fetch()]);
    expect(results.map((r) => r.sha)).toEqual([sha, sha, sha]);
    const [w1, w2] = await Promise.all([a.checkout(sha), b.checkout(sha)]);
    expect(w1.dir).toBe(w2.dir);
  });

  it('keys the mirror by URL and recreates a damaged one', async () => {
    const sha = commit(work, { a: '1' }, 'one');
    const src = source();
    await src.fetch();
    expect(readdirSync(cacheDir)).toEqual([src.cacheKey]);
    expect(readFileSync(join(cacheDir, src.cacheKey, 'url'), 'utf8').trim()).toBe(work);
    rmSync(join(src.mirrorDir, 'HEAD'));
    expect((await src.fetch()).sha).toBe(sha);
    expect(existsSync(join(src.mirrorDir, 'HEAD'))).toBe(true);
  });

  it('removes a stale lock file left by a killed git, but not a fresh one', async () => {
    commit(work, { a: '1' }, 'one');
    const src = source();
    await src.fetch();
    const two = commit(work, { a: '2' }, 'two');
    const lock = join(src.mirrorDir, 'refs', 'heads', 'main.lock');
    writeFileSync(lock, '');
    const err = await failure(src.fetch());
    expect(err.kind).toBe('git');
    expect(err.message).toContain('main.lock');

    const tenMinutesAgo = new Date(Date.now() - 600_000);
    utimesSync(lock, tenMinutesAgo, tenMinutesAgo);
    expect((await src.fetch()).sha).toBe(two);
    expect(existsSync(lock)).toBe(false);
  });

  it('accepts file:// URLs', async () => {
    const sha = commit(work, { a: '1' }, 'one');
    expect((await new GitSource({ url: `file://${work}`, cacheDir }).fetch()).sha).toBe(sha);
  });
});

describe('checkouts', () => {
  it('gives each commit a directory of its own with that commit\'s files, and reuses it', async () => {
    const one = commit(work, { 'app.ts': 'one', 'lib/x.ts': 'x' }, 'one');
    const two = commit(work, { 'app.ts': 'two', 'lib/x.ts': null, 'new.ts': 'n' }, 'two');
    const src = source();
    await src.fetch();

    const w1 = await src.checkout(one);
    const w2 = await src.checkout(two);
    expect(w1.dir).not.toBe(w2.dir);
    expect(w1.sha).toBe(one);
    expect(readFileSync(join(w1.dir, 'app.ts'), 'utf8')).toBe('one');
    expect(existsSync(join(w1.dir, 'lib/x.ts'))).toBe(true);
    expect(existsSync(join(w1.dir, 'new.ts'))).toBe(false);
    expect(readFileSync(join(w2.dir, 'app.ts'), 'utf8')).toBe('two');
    expect(existsSync(join(w2.dir, 'lib/x.ts'))).toBe(false);
    expect(git(w1.dir, 'rev-parse', 'HEAD')).toBe(one);

    // Reuse: an untracked file (say, node_modules) survives, so the directory was not remade.
    writeFileSync(join(w1.dir, 'untracked.txt'), 'kept');
    const again = await src.checkout(one.slice(0, 10));
    expect(again.dir).toBe(w1.dir);
    expect(readFileSync(join(again.dir, 'untracked.txt'), 'utf8')).toBe('kept');

    await w1.remove();
    expect(existsSync(w1.dir)).toBe(false);
    expect(git(src.mirrorDir, 'worktree', 'list')).not.toContain(one);
  });

  it('refuses a commit the mirror does not have', async () => {
    commit(work, { a: '1' }, 'one');
    const src = source();
    await src.fetch();
    const err = await failure(src.checkout('0123456789abcdef0123456789abcdef01234567'));
    expect(err.kind).toBe('ref-not-found');
    expect(err.message).toContain('call fetch() first');
  });

  it('redoes a checkout whose process was killed before git started (a partial directory)', async () => {
    const sha = commit(work, { 'app.ts': 'real' }, 'one');
    const src = source();
    await src.fetch();
    const dir = join(src.checkoutsDir, sha);
    mkdirSync(join(dir, 'half'), { recursive: true });
    writeFileSync(join(dir, 'app.ts'), 'garbage');

    const logs: string[] = [];
    const repaired = await new GitSource({ url: work, cacheDir, log: (l) => logs.push(l) }).checkout(sha);
    expect(repaired.dir).toBe(dir);
    expect(readFileSync(join(dir, 'app.ts'), 'utf8')).toBe('real');
    expect(existsSync(join(dir, 'half'))).toBe(false);
    expect(logs.join('\n')).toContain('incomplete');
  });

  it('redoes a checkout killed inside `git worktree add` (registered, locked, files missing)', async () => {
    const sha = commit(work, { 'app.ts': 'real', 'b.ts': 'b' }, 'one');
    const src = source();
    await src.fetch();
    const dir = join(src.checkoutsDir, sha);
    // What an interrupted `worktree add` leaves: a registration locked as "initializing",
    // a directory with part of the files, and no ready marker.
    mkdirSync(src.checkoutsDir, { recursive: true });
    git(src.mirrorDir, 'worktree', 'add', '-q', '--detach', dir, sha);
    git(src.mirrorDir, 'worktree', 'lock', '--reason', 'initializing', dir);
    rmSync(join(dir, 'b.ts'));

    const w = await src.checkout(sha);
    expect(readFileSync(join(w.dir, 'b.ts'), 'utf8')).toBe('b');
    expect(git(w.dir, 'rev-parse', 'HEAD')).toBe(sha);
    const worktrees = git(src.mirrorDir, 'worktree', 'list', '--porcelain');
    expect(worktrees.split('\n').filter((l) => l === `worktree ${dir}`)).toHaveLength(1);
  });

  it('redoes a checkout whose directory vanished, and restores edited tracked files', async () => {
    const sha = commit(work, { 'app.ts': 'real' }, 'one');
    const src = source();
    await src.fetch();
    const w = await src.checkout(sha);

    writeFileSync(join(w.dir, 'app.ts'), 'edited by hand');
    expect(readFileSync(join((await src.checkout(sha)).dir, 'app.ts'), 'utf8')).toBe('real');

    rmSync(w.dir, { recursive: true, force: true });
    const again = await src.checkout(sha);
    expect(readFileSync(join(again.dir, 'app.ts'), 'utf8')).toBe('real');
  });

  it('prune removes every checkout but the kept ones', async () => {
    const one = commit(work, { a: '1' }, 'one');
    const two = commit(work, { a: '2' }, 'two');
    const three = commit(work, { a: '3' }, 'three');
    const src = source();
    await src.fetch();
    const [w1, w2, w3] = [await src.checkout(one), await src.checkout(two), await src.checkout(three)];
    const removed = await src.prune([three, two.slice(0, 8)]);
    expect(removed).toEqual([one]);
    expect(existsSync(w1.dir)).toBe(false);
    expect(existsSync(w2.dir)).toBe(true);
    expect(existsSync(w3.dir)).toBe(true);
    expect(git(src.mirrorDir, 'worktree', 'list')).not.toContain(w1.dir);
  });
});

describe('force-push detection', () => {
  it('isAncestor is false for the previous head after history was rewritten', async () => {
    const served = join(tmp.dir, 'served.git');
    git(tmp.dir, 'init', '-q', '--bare', served);
    const a = commit(work, { a: '1' }, 'a');
    const b = commit(work, { a: '2' }, 'b');
    git(work, 'push', '-q', served, 'main');
    const src = new GitSource({ url: served, cacheDir });
    expect((await src.fetch()).sha).toBe(b);

    const c = commit(work, { a: '3' }, 'c');
    git(work, 'push', '-q', served, 'main');
    expect((await src.fetch()).sha).toBe(c);
    expect(await src.isAncestor(b, c)).toBe(true);

    git(work, 'reset', '-q', '--hard', a);
    const d = commit(work, { a: 'rewritten' }, 'd');
    git(work, 'push', '-q', '--force', served, 'main');
    expect((await src.fetch()).sha).toBe(d);
    expect(await src.isAncestor(c, d)).toBe(false);
    expect(await src.isAncestor(a, d)).toBe(true);
    expect(await src.isAncestor(a.slice(0, 8), d)).toBe(true);
    expect(await src.isAncestor(d, d)).toBe(true);
    // A commit the mirror never had is not an ancestor either.
    expect(await src.isAncestor('0123456789abcdef0123456789abcdef01234567', d)).toBe(false);
  });
});

describe('failures', () => {
  it('file:///nonexistent is unreachable, quickly', async () => {
    const started = performance.now();
    const err = await failure(new GitSource({ url: 'file:///nonexistent/repo.git', cacheDir }).fetch());
    expect(err.kind).toBe('unreachable');
    expect(err.message).toBe('cannot reach file:///nonexistent/repo.git: there is no git repository at this address; check the URL');
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('a closed port is unreachable, quickly', async () => {
    const port = await closedPort();
    const started = performance.now();
    const err = await failure(new GitSource({ url: `http://127.0.0.1:${port}/x.git`, cacheDir }).fetch());
    expect(err.kind).toBe('unreachable');
    expect(err.transient).toBe(true);
    expect(err.message).toBe(`cannot reach http://127.0.0.1:${port}/x.git: connection refused; check the URL and the network`);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('an ssh remote on a closed port is unreachable', async () => {
    const port = await closedPort();
    const err = await failure(new GitSource({
      url: `ssh://git@127.0.0.1:${port}/org/repo.git`, cacheDir,
      auth: { type: 'ssh', keyFile: join(tmp.dir, 'no key'), knownHostsFile: join(tmp.dir, 'known hosts') },
    }).fetch());
    expect(err.kind).toBe('unreachable');
    expect(err.message).toContain('connection refused');
  });

  it('times out on a remote that never answers, and leaves no git process behind', async () => {
    const silent = await startSilentServer();
    try {
      const url = `http://127.0.0.1:${silent.port}/stalled.git`;
      const started = performance.now();
      const err = await failure(new GitSource({ url, cacheDir, timeoutMs: 800 }).fetch());
      const elapsed = performance.now() - started;
      expect(err.kind).toBe('timeout');
      expect(err.message).toBe(`git fetch of ${url} timed out after 0.8 s; check the network and the server, or raise timeoutMs`);
      expect(elapsed).toBeGreaterThanOrEqual(750);
      expect(elapsed).toBeLessThan(10_000);
      expect(await gitProcessesLeft(silent.port)).toEqual([]);
    } finally {
      await silent.close();
    }
  });

  it('a caller abort cancels the call and ends git', async () => {
    const silent = await startSilentServer();
    try {
      const url = `http://127.0.0.1:${silent.port}/stalled.git`;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const pending = new GitSource({ url, cacheDir, timeoutMs: 30_000 }).fetch({ signal: controller.signal });
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(await gitProcessesLeft(silent.port)).toEqual([]);
    } finally {
      await silent.close();
    }
  });

  it('refuses malformed and dangerous URLs with kind invalid-url', () => {
    for (const url of ['', 'ftp://example.com/repo.git', 'ext::sh -c touch% /tmp/pwned', '-uploadpack=touch', 'https://', 'ssh://user:pw@host/repo.git']) {
      let error: unknown;
      try { new GitSource({ url, cacheDir }); } catch (e) { error = e; }
      expect(error, url).toBeInstanceOf(SourceError);
      expect((error as SourceError).kind, url).toBe('invalid-url');
    }
    expect(() => new GitSource({ url: 'https://example.com/x.git', cacheDir, auth: { type: 'ssh', keyFile: '/k' } })).toThrow(/not an ssh address/);
  });
});
