/**
 * Releases against the real apiserver (no Kruise controller at this level: approval gates only):
 * field ownership (git owns the template, kgitops-release the partition), approvals by the CLI
 * and committed to git, pause and resume by the CLI, and what the CLI says when there is
 * nothing to do.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GitApp } from '../fixtures/git-app.js';
import { releaseEngine } from '../fixtures/release-engine.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-release-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import { App, CloneSet, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: 4,
  release: Release.steps(Step.to('25%').gate(Gate.approval()), Step.to('100%').gate(Gate.approval({ approvers: ['bob'] }))),
  containers: [{ name: 'main', image: p.image }],
});
app.synth();
`;

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT }, (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

describe('releases on a real apiserver', () => {
  it('separates field ownership, takes approvals from the CLI and from git, and pauses/resumes on command', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const { cluster, releases, reconciler, key, state } = releaseEngine(repo, ns, CACHE);
      const common = ['-n', ns, '--kubeconfig', kubeconfigPath()];
      try {
        repo.commit({ namespace: ns, image: 'registry.example.com/web:1' });
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        // No release in progress: the CLI says so and exits 1.
        const nothing = await cli(['approve', 'shop/web', ...common, '--by', 'alice']);
        expect(nothing.code).toBe(1);
        expect(nothing.err).toContain('error: web has no release in progress');
        repo.commit({ namespace: ns, image: 'registry.example.com/web:2' });
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        const s0 = await waitFor(async () => ((await state())?.step === 0 && (await cluster.get(key))?.spec.updateStrategy.partition === '75%' ? state() : undefined), { timeoutMs: 15_000 });
        expect(s0!.phase).toBe('Progressing');

        // Ownership: the template is git's, the partition the release's.
        const live = (await cluster.get(key))!;
        const owners = Object.fromEntries(live.metadata.managedFields!.map((m) => [m.manager, JSON.stringify(m.fieldsV1)]));
        expect(owners['kgitops-release']).toContain('"f:partition"');
        expect(owners.kgitops).toContain('"f:template"');
        expect(owners.kgitops).not.toContain('"f:partition"');

        // Step 1: approved by the CLI; the engine advances (partition 0%).
        const approved = await cli(['approve', 'shop/web', ...common, '--by', 'alice']);
        expect(approved.code).toBe(0);
        expect(approved.out).toMatch(new RegExp(`^approved step 1 of release ${ns}/web@[0-9a-f]{10} \\(by alice\\)`));
        await waitFor(async () => ((await state())?.step === 1 || undefined), { timeoutMs: 15_000 });
        expect((await cluster.get(key))!.spec.updateStrategy.partition).toBe('0%');
        expect((await state())!.approvals).toEqual([expect.objectContaining({ step: 0, by: 'alice', via: 'cli' })]);

        // Pause and resume by the CLI.
        expect((await cli(['pause', 'shop/web', ...common, '--by', 'carol'])).code).toBe(0);
        await waitFor(async () => ((await state())?.phase === 'Paused' || undefined), { timeoutMs: 15_000 });
        expect((await cluster.get(key))!.spec.updateStrategy.paused).toBe(true);
        const status = await cli(['status', '--app', 'shop', ...common]);
        expect(status.out).toMatch(/RELEASE .* WORKLOAD .* PHASE .* STEP/);
        expect(status.out).toMatch(new RegExp(`${ns}/web@[0-9a-f]{10}\\s+CloneSet ${ns}/web\\s+Paused\\s+2/2\\s+paused by carol`));
        expect((await cli(['resume', 'shop/web', ...common, '--by', 'carol'])).code).toBe(0);
        await waitFor(async () => ((await state())?.phase === 'Progressing' || undefined), { timeoutMs: 15_000 });
        expect((await cluster.get(key))!.spec.updateStrategy.paused).toBe(false);

        // Step 2 needs bob: alice's approval does not count; bob's, committed to git, does.
        expect((await cli(['approve', 'shop/web', ...common, '--by', 'alice'])).code).toBe(0);
        await new Promise((r) => setTimeout(r, 2000));
        expect((await state())!.phase).toBe('Progressing');
        const id = (await state())!.id;
        repo.commit({ namespace: ns, image: 'registry.example.com/web:2' }, 'approve step 2', { 'approvals.yaml': `approvals:\n  - release: ${id}\n    step: 2\n    by: bob\n    note: reviewed in the PR\n` });
        expect((await reconciler.reconcile()).result).not.toBe('Failed');
        await waitFor(async () => ((await state())?.phase === 'Completed' || undefined), { timeoutMs: 15_000 });
        expect((await state())!.approvals.map((a) => `${a.step}:${a.by}:${a.via}`)).toEqual(['0:alice:cli', '1:alice:cli', '1:bob:git']);

        // A malformed approvals file makes the commit invalid, with the reason.
        repo.commit({ namespace: ns, image: 'registry.example.com/web:2' }, 'bad approvals', { 'approvals.yaml': 'approvals:\n  - release: web\n    by: bob\n' });
        const bad = await reconciler.reconcile();
        expect(bad.result).toBe('Failed');
        expect(bad.errors[0].message).toContain('approvals.yaml: approvals[0].release: expected a release id like "shop/storefront@3f9c2a1b7d"');
      } finally {
        releases.stop();
        reconciler.close();
        repo.remove();
      }
    }), 120_000);
});
