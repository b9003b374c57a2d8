/**
 * A source without a ref follows the remote's default branch (its HEAD), as Argo CD does: a repo
 * whose default branch is master syncs (the CLI, as a user runs it), an explicit ref still wins,
 * and the status says which branch the commit came through. Webhook pushes follow the same branch.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { gitSource, reconcileOnPush } from '../../../engine/cli/sync.js';
import { formatStatus, readStatus } from '../../../engine/cli/status.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import { realClock } from '../../../engine/clock.js';
import { loadConfig } from '../../../engine/config.js';
import { createLogger } from '../../../engine/log.js';
import { Reconciler } from '../../../engine/reconciler.js';
import type { PushEvent } from '../../../engine/source/webhook.js';
import { configMap, GitApp } from '../../fixtures/git-app.js';

const BIN = fileURLToPath(new URL('../../../bin/kgitops.mjs', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-default-branch-'));
const repos: GitApp[] = [];
afterAll(() => {
  for (const r of repos) r.remove();
  rmSync(CACHE, { recursive: true, force: true });
});

/** A repo whose only (and so default) branch is master, and a branch `release` with other content. */
function masterRepo(): { repo: GitApp; onMaster: string; onRelease: string } {
  const repo = new GitApp();
  repos.push(repo);
  repo.git('branch', '-m', 'main', 'master');
  const onMaster = repo.commit({ namespace: 'default', objects: [configMap('settings', { from: 'master' })] }, 'on master');
  repo.git('checkout', '-q', '-b', 'release');
  const onRelease = repo.commit({ namespace: 'default', objects: [configMap('settings', { from: 'release' })] }, 'on release');
  repo.git('checkout', '-q', 'master');
  return { repo, onMaster, onRelease };
}

function kgitops(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 150_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('the remote\'s default branch', () => {
  it('kgitops sync --simulate --once on a repo whose default branch is master: applied, saying so', async () => {
    const { repo, onMaster } = masterRepo();
    const r = await kgitops(['sync', '--repo', repo.dir, '--simulate', '--once', '--app', 'shop', '--cache-dir', join(CACHE, 'cli')]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Succeeded: applied commit ${onMaster.slice(0, 12)}: 1 created`, 'm'));
    expect(r.stdout).toContain('  branch master (the remote\'s default branch; no ref configured)');
    expect(r.stderr).toContain('no ref configured: following the remote\'s default branch (its HEAD)');
  }, 180_000);

  it('the status records and shows the branch; an explicit --ref still wins', async () => {
    const { repo, onMaster, onRelease } = masterRepo();
    const sim = new SimCluster({ clock: realClock });
    const log = createLogger({ level: 'silent' });
    try {
      const followed = loadConfig({ repo: repo.dir, app: 'shop', cacheDir: join(CACHE, 'default') });
      expect(followed.ref).toBeUndefined();
      const reconciler = new Reconciler(followed, sim, gitSource(followed), realClock, log);
      const r = await reconciler.reconcile();
      reconciler.close();
      expect(r).toMatchObject({ result: 'Succeeded', commit: onMaster, ref: 'refs/heads/master', defaultBranch: true });
      const status = await readStatus(sim, 'shop', 'default');
      expect(status.status).toMatchObject({ appliedCommit: onMaster, ref: 'refs/heads/master', defaultBranch: true });
      expect(formatStatus(status)).toContain('ref: branch master (the remote\'s default branch; no ref configured)\n');

      const pinned = loadConfig({ repo: repo.dir, app: 'shop', ref: 'release', cacheDir: join(CACHE, 'pinned') });
      const other = new Reconciler(pinned, sim, gitSource(pinned), realClock, log);
      const p = await other.reconcile();
      other.close();
      expect(p).toMatchObject({ result: 'Succeeded', commit: onRelease, ref: 'refs/heads/release' });
      expect(p.defaultBranch).toBeUndefined();
      const after = await readStatus(sim, 'shop', 'default');
      expect(after.status?.defaultBranch).toBeUndefined();
      expect(formatStatus(after)).toContain('ref: branch release\n');
      expect((await sim.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'settings' }))?.data).toEqual({ from: 'release' });
    } finally {
      sim.stop();
    }
  }, 120_000);

  it('webhook pushes: until the first fetch every push reconciles; then only pushes to the default branch do', async () => {
    const { repo } = masterRepo();
    const config = loadConfig({ repo: repo.dir, app: 'shop', cacheDir: join(CACHE, 'webhook') });
    const source = gitSource(config);
    const triggered: string[] = [];
    const ignored: string[] = [];
    const onPush = reconcileOnPush(() => source.followedRef(), (reason) => triggered.push(reason), { info: (_, message) => ignored.push(message) });
    const push = (ref: string, deleted = false): PushEvent => ({ provider: 'github', ref, sha: 'a'.repeat(40), deleted });
    onPush(push('refs/heads/release'));
    expect(triggered).toEqual(['github push to refs/heads/release']);
    await source.fetch();
    expect(source.followedRef()).toBe('refs/heads/master');
    onPush(push('refs/heads/release'));
    onPush(push('refs/heads/master'));
    onPush(push('refs/heads/master', true));
    expect(triggered).toEqual(['github push to refs/heads/release', 'github push to refs/heads/master']);
    expect(ignored).toEqual([
      'webhook push ignored: the push was to refs/heads/release; this engine follows refs/heads/master',
      'webhook push ignored: the push deleted refs/heads/master; a deletion has nothing to apply, the last applied commit keeps running',
    ]);
  });
});
