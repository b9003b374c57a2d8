/**
 * Releases against the real apiserver (no Kruise controller at this level: approval gates only):
 * field ownership (git owns the template, kgitops-release the partition), approvals by the CLI
 * (recorded as the user the apiserver authenticates: a ServiceAccount token here, the admin
 * there) and committed to git (counted only when signed by an allowed key), commands written by
 * kubectl ignored, pause and resume by the CLI, and what the CLI says when there is nothing to do.
 */
import * as k8s from '@kubernetes/client-node';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ANNOTATION_RELEASE_COMMANDS } from '../../engine/release/controller.js';
import { GitApp } from '../fixtures/git-app.js';
import { releaseEngine } from '../fixtures/release-engine.js';
import { apply, kubeConfig, kubeconfigPath, objectApi, waitFor, withNamespace } from '../cluster/harness.js';

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

/**
 * A ServiceAccount that may give release commands in `ns` (read the app's parent, patch the
 * CloneSet), and a kubeconfig with a token of it: the CLI run with it is that ServiceAccount.
 */
async function serviceAccountKubeconfig(ns: string, name: string, dir: string): Promise<string> {
  await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } });
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: ns },
    rules: [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
      { apiGroups: ['apps.kruise.io'], resources: ['clonesets'], verbs: ['get', 'patch'] },
    ],
  } as k8s.KubernetesObject);
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
  } as k8s.KubernetesObject);
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const review = await core.createNamespacedServiceAccountToken({ name, namespace: ns, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  const admin = parseYaml(readFileSync(kubeconfigPath(), 'utf8'));
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(file, stringifyYaml({ ...admin, users: [{ name: 'admin', user: { token: review.status!.token } }] }), { mode: 0o600 });
  return file;
}

function sshKey(dir: string, name: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  return join(dir, name);
}

/** Commits approvals.yaml (and objects.json unchanged), signed with `key` when given. */
function commitApprovals(repo: GitApp, content: string, key?: string): string {
  writeFileSync(join(repo.dir, 'approvals.yaml'), content);
  repo.git('add', '-A');
  repo.git(...(key ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`, 'commit', '-q', '-S'] : ['commit', '-q', '--no-gpg-sign']), '-m', 'approvals');
  return repo.git('rev-parse', 'HEAD');
}

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT }, (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

describe('releases on a real apiserver', () => {
  it('separates field ownership, takes approvals from the CLI (as the authenticated user) and signed ones from git, and pauses/resumes on command', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(MAIN);
      const keys = mkdtempSync(join(tmpdir(), 'kgitops-approver-keys-'));
      const bob = sshKey(keys, 'bob');
      const mallory = sshKey(keys, 'mallory');
      // Only bob's key approves; the file lives outside the repo.
      const allowed = join(keys, 'allowed_signers');
      writeFileSync(allowed, `bob ${readFileSync(`${bob}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
      const { cluster, releases, reconciler, key, state } = releaseEngine(repo, ns, CACHE, 'web', { approvers: allowed });
      const common = ['-n', ns, '--kubeconfig', kubeconfigPath()];
      try {
        repo.commit({ namespace: ns, image: 'registry.example.com/web:1' });
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        // No release in progress: the CLI says so and exits 1.
        const nothing = await cli(['approve', 'shop/web', ...common]);
        expect(nothing.code).toBe(1);
        expect(nothing.err).toContain('error: web has no release in progress');
        // A name typed on the command line is not who approves.
        const typed = await cli(['approve', 'shop/web', ...common, '--by', 'alice']);
        expect(typed.code).toBe(2);
        expect(typed.err).toContain('error: --by is not accepted: the approver recorded is who the cluster says you are');
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

        // Step 1: approved by the CLI run with a ServiceAccount's token: recorded as that
        // ServiceAccount (the apiserver's SelfSubjectReview), not as anything the caller typed.
        const approver = await serviceAccountKubeconfig(ns, 'approver', keys);
        const approved = await cli(['approve', 'shop/web', '-n', ns, '--kubeconfig', approver, '--note', 'dashboards green']);
        expect(approved.err).toBe('');
        expect(approved.code).toBe(0);
        expect(approved.out).toMatch(new RegExp(`^approved step 1 of release ${ns}/web@[0-9a-f]{10} \\(by system:serviceaccount:${ns}:approver, as the cluster `));
        await waitFor(async () => ((await state())?.step === 1 || undefined), { timeoutMs: 15_000 });
        expect((await cluster.get(key))!.spec.updateStrategy.partition).toBe('0%');
        expect((await state())!.approvals).toEqual([expect.objectContaining({ step: 0, by: `system:serviceaccount:${ns}:approver`, via: 'cli', note: 'dashboards green' })]);

        // Pause and resume by the CLI, as the admin user of the test kubeconfig.
        expect((await cli(['pause', 'shop/web', ...common])).code).toBe(0);
        await waitFor(async () => ((await state())?.phase === 'Paused' || undefined), { timeoutMs: 15_000 });
        expect((await cluster.get(key))!.spec.updateStrategy.paused).toBe(true);
        const status = await cli(['status', '--app', 'shop', ...common]);
        expect(status.out).toMatch(/RELEASE .* WORKLOAD .* PHASE .* STEP/);
        expect(status.out).toMatch(new RegExp(`${ns}/web@[0-9a-f]{10}\\s+CloneSet ${ns}/web\\s+Paused\\s+2/2\\s+paused by kgitops-admin`));
        expect((await cli(['resume', 'shop/web', ...common])).code).toBe(0);
        await waitFor(async () => ((await state())?.phase === 'Progressing' || undefined), { timeoutMs: 15_000 });
        expect((await cluster.get(key))!.spec.updateStrategy.paused).toBe(false);
        const id = (await state())!.id;

        // Step 2 needs bob. The admin's CLI approval does not count (it is kgitops-admin) ...
        expect((await cli(['approve', 'shop/web', ...common])).code).toBe(0);
        await waitFor(async () => ((await state())?.approvals.some((a) => a.step === 1 && a.by === 'kgitops-admin') || undefined), { timeoutMs: 15_000 });
        expect((await state())!).toMatchObject({ phase: 'Progressing', step: 1 });
        // ... nor does an approval by "bob" that kubectl wrote into the commands annotation (an
        // Update by field manager kubectl-annotate): the engine skips it and says so.
        const withCommands = (await cluster.get(key))!;
        const commands = JSON.parse(withCommands.metadata.annotations![ANNOTATION_RELEASE_COMMANDS]!);
        await objectApi().patch({ apiVersion: withCommands.apiVersion, kind: withCommands.kind, metadata: { name: 'web', namespace: ns, annotations: {
          [ANNOTATION_RELEASE_COMMANDS]: JSON.stringify([...commands, { release: id, action: 'approve', step: 1, by: 'bob', at: new Date().toISOString() }]),
        } } }, undefined, undefined, 'kubectl-annotate', undefined, k8s.PatchStrategy.MergePatch);
        await waitFor(async () => ((await state())?.history.some((h) => h.reason === 'ReleaseCommandsIgnored') || undefined), { timeoutMs: 15_000 });
        expect((await state())!.history.find((h) => h.reason === 'ReleaseCommandsIgnored')!.message)
          .toContain(`annotation was written by "kubectl-annotate" (Update), not by the kgitops CLI`);
        // ... nor one committed to git unsigned, or signed by a key that is not bob's.
        for (const signer of [undefined, mallory]) {
          // Indented differently each time: every line of the entry is this commit's.
          const pad = signer ? '    ' : '  ';
          commitApprovals(repo, `approvals:\n${pad}- release: ${id}\n${pad}  step: 2\n${pad}  by: bob\n`, signer);
          const r = await reconciler.reconcile();
          expect(r.result).not.toBe('Failed');
          expect(r.warnings?.map((w) => w.message)).toEqual([expect.stringMatching(signer ? /which is signed by key SHA256:\S+, which is not an allowed approver$/ : /which is not signed$/)]);
        }
        await new Promise((r) => setTimeout(r, 2000));
        expect((await state())!).toMatchObject({ phase: 'Progressing', step: 1 });
        // Bob's signed commit does: recorded as bob (the allowed-signers principal), with the commit.
        const signed = commitApprovals(repo, `approvals:\n  - release: ${id}\n    step: 2\n    by: someone else\n    note: reviewed in the PR\n`, bob);
        const r = await reconciler.reconcile();
        expect(r.warnings).toBeUndefined();
        await waitFor(async () => ((await state())?.phase === 'Completed' || undefined), { timeoutMs: 15_000 });
        expect((await state())!.approvals.map((a) => `${a.step}:${a.by}:${a.via}`)).toEqual([`0:system:serviceaccount:${ns}:approver:cli`, '1:kgitops-admin:cli', '1:bob:git']);
        expect((await state())!.approvals[2]).toMatchObject({ commit: signed, key: expect.stringMatching(/^SHA256:/), note: 'by: someone else; reviewed in the PR' });

        // A malformed approvals file makes the commit invalid, with the reason.
        repo.commit({ namespace: ns, image: 'registry.example.com/web:2' }, 'bad approvals', { 'approvals.yaml': 'approvals:\n  - release: web\n    by: bob\n' });
        const bad = await reconciler.reconcile();
        expect(bad.result).toBe('Failed');
        expect(bad.errors[0].message).toContain('approvals.yaml:2: approvals[0].release: expected a release id like "shop/storefront@3f9c2a1b7d"');
      } finally {
        releases.stop();
        reconciler.close();
        repo.remove();
        rmSync(keys, { recursive: true, force: true });
      }
    }), 120_000);
});
