/**
 * A repo's policy files as the engine runs them: in a child process, with no credentials, a
 * timeout, and every way of failing reported as an error that blocks the commit.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { RenderedObject } from '../../../dsl/app.js';
import { checkPolicies, hasPolicyFiles } from '../../../engine/policy/host.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Inside the package, so that policy files resolve `kruise-gitops/policy` as in a user repo.
const WORK = join(ROOT, '.cache', `test-policies-${process.pid}`);
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

function repo(name: string, files: Record<string, string>): string {
  const dir = join(WORK, name);
  mkdirSync(join(dir, 'policies'), { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, 'policies', f), text);
  return dir;
}

const objects: RenderedObject[] = [{
  manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'shop' }, data: { v: '1' } },
  chart: 'c', constructPath: 'c/a', source: 'main.ts:3:1',
}];

describe('policy files', () => {
  it('reports a file that does not compile, with its line, as an error', async () => {
    const dir = repo('syntax', { 'broken.ts': "import { definePolicy } from 'kruise-gitops/policy';\nexport default definePolicy({ name: 'x', check( {} });\n" });
    const r = await checkPolicies(dir, objects);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ severity: 'error', rule: 'policy/load-failed', hint: 'fix the policy file; until it loads, no commit is applied' });
    expect(r.diagnostics[0].message).toMatch(/^policies\/broken\.ts could not be loaded: /);
    expect(r.diagnostics[0].source).toMatch(/policies\/broken\.ts:2:\d+$/);
  }, 30_000);

  it('reports a bad policy name and a file whose export is not a policy', async () => {
    const dir = repo('exports', {
      'a.ts': "import { definePolicy } from 'kruise-gitops/policy';\nexport default definePolicy({ name: 'Bad Name', check() {} });\n",
      'b.ts': 'export default { name: "not-a-policy" };\n',
    });
    const r = await checkPolicies(dir, objects);
    expect(r.diagnostics.map((d) => `${d.rule}: ${d.message}`)).toEqual([
      'policy/load-failed: policies/a.ts could not be loaded: policy name "Bad Name" must be lower case letters, digits and dashes (for example "team-label")',
      'policy/config: policies/b.ts: the default export is not a policy: export definePolicy(...), a list of them, or policySet({...})',
    ]);
  }, 30_000);

  it('stops a policy that never returns, and blocks the commit', async () => {
    const dir = repo('loop', { 'loop.ts': "import { definePolicy } from 'kruise-gitops/policy';\nexport default definePolicy({ name: 'loop', check() { for (;;) {} } });\n" });
    const started = Date.now();
    const r = await checkPolicies(dir, objects, undefined, { timeoutMs: 3000 });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.diagnostics).toEqual([expect.objectContaining({ severity: 'error', rule: 'policy/failed', message: 'the policies did not finish within 3 s and were stopped' })]);
  }, 30_000);

  it('gives policy code no cluster credentials or tokens', async () => {
    const dir = repo('env', {
      'env.ts': `import { definePolicy } from 'kruise-gitops/policy';
export default definePolicy({ name: 'env', severity: 'warning', check(o, ctx) {
  for (const k of ['KUBECONFIG', 'GITHUB_TOKEN', 'KGITOPS_GIT_TOKEN']) if (process.env[k] !== undefined) ctx.report('sees ' + k);
  ctx.report('PATH ' + (process.env.PATH ? 'set' : 'unset'));
} });
`,
    });
    const saved = { ...process.env };
    Object.assign(process.env, { KUBECONFIG: '/secret/kubeconfig', GITHUB_TOKEN: 'ghp_secret', KGITOPS_GIT_TOKEN: 'secret' });
    try {
      const r = await checkPolicies(dir, objects);
      expect(r.diagnostics.filter((d) => d.rule === 'policy/env').map((d) => d.message)).toEqual(['PATH set']);
    } finally {
      for (const k of ['KUBECONFIG', 'GITHUB_TOKEN', 'KGITOPS_GIT_TOKEN']) {
        if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
      }
    }
  }, 30_000);

  it('runs the built-in pack as errors once a repo has policies, with the objects\' construct paths', async () => {
    const dir = repo('builtin', { 'index.ts': "import { policySet } from 'kruise-gitops/policy';\nexport default policySet({ builtin: { resources: false } });\n" });
    const web: RenderedObject = {
      manifest: {
        apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'shop' },
        spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
      },
      chart: 'c', constructPath: 'c/web', source: 'main.ts:9:1',
    };
    const r = await checkPolicies(dir, [web]);
    expect(r.policies).toEqual(['images-pinned', 'max-unavailable', 'release-gated', 'disruption-budget', 'in-place-only-images']);
    expect(r.diagnostics).toEqual([{
      severity: 'error', rule: 'policy/images-pinned', message: 'container "web" uses image "nginx" without a tag, which means :latest',
      hint: 'pin a version tag (for example :1.4.2) or a digest (@sha256:...)', path: 'spec.template.spec.containers[0].image',
      object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' }, constructPath: 'c/web', source: 'main.ts:9:1',
    }]);
  }, 30_000);

  it('knows a policies/ directory with only tests or type declarations is no policy', () => {
    const dir = repo('none', { 'README.md': '# policies\n', 'x.test.ts': '', 'types.d.ts': '' });
    expect(hasPolicyFiles(dir)).toBe(false);
  });
});
