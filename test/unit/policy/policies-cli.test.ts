/**
 * `kgitops policies`: what an app's commits must pass, as the policy process loads it (the same
 * process synth, diff and the engine use), in text and JSON, and the exit codes.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_POLICY_NAMES } from '../../../engine/policy/builtin.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORK = join(ROOT, '.cache', `test-policies-cli-${process.pid}`);
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }

function kgitops(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT, env: process.env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** An app directory (cdk8s.yaml; the app itself never runs here) with these policy files. */
function app(name: string, policies?: Record<string, string>): string {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
  if (policies) {
    mkdirSync(join(dir, 'policies'));
    for (const [f, text] of Object.entries(policies)) writeFileSync(join(dir, 'policies', f), text);
  }
  return dir;
}

describe('kgitops policies', () => {
  it('lists the examples\' policies as configured: the tuned built-in pack and the repo\'s own rule, with their files', async () => {
    // A relative directory, as a user types it: the policy files must still be found.
    const r = await kgitops(['policies', 'examples']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('8 policies from policies/shop.ts and the built-in pack: errors block synth, diff and the engine');
    expect(r.stdout).toMatch(/^max-unavailable\s+error\s+built-in\s+all\s+maxUnavailable of an update is at most 25%$/m);
    expect(r.stdout).toMatch(/^sidecar-registries\s+error\s+built-in\s+SidecarSet\s+SidecarSet images come from registry\.example\.com$/m);
    expect(r.stdout).toMatch(/^app-label\s+error\s+policies\/shop\.ts\s+CloneSet,AdvancedStatefulSet,AdvancedDaemonSet\s+long-running workloads label their pods with app$/m);
    expect(r.stdout).not.toContain('built-in, off');

    const j = JSON.parse((await kgitops(['policies', 'examples', '-o', 'json'])).stdout);
    expect(j.enforced).toBe(true);
    expect(j.files).toEqual(['policies/shop.ts']);
    expect(j.builtinOff).toEqual([]);
    expect(j.policies.map((p: { name: string }) => p.name)).toEqual([...Object.values(BUILTIN_POLICY_NAMES), 'app-label']);
    expect(j.policies.find((p: { name: string }) => p.name === 'disruption-budget')).toEqual({
      name: 'disruption-budget', severity: 'error', from: 'built-in',
      description: 'workloads with more than 3 replicas are covered by a PodUnavailableBudget or PodDisruptionBudget',
    });
  }, 60_000);

  it('says that without policies/ the built-in pack only warns, and that sidecar-registries is off', async () => {
    const dir = app('advisory');
    const r = await kgitops(['policies', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no policies/ directory: the built-in pack runs as warnings and blocks nothing (add policies/*.ts to enforce it)');
    expect(r.stdout).toMatch(/^images-pinned\s+warning\s+built-in\s+all\s+/m);
    expect(r.stdout).toContain('built-in, off: sidecar-registries (sidecar-registries runs once its registries are configured)');
    const j = JSON.parse((await kgitops(['policies', dir, '-o', 'json'])).stdout);
    expect(j).toMatchObject({ enforced: false, files: [], builtinOff: ['sidecar-registries'], diagnostics: [] });
    expect(new Set(j.policies.map((p: { severity: string }) => p.severity))).toEqual(new Set(['warning']));
  }, 60_000);

  it('exits 1 and says which file when a policy file does not load; exits 2 without cdk8s.yaml', async () => {
    const dir = app('broken', { 'team.ts': 'export default {;\n' });
    const r = await kgitops(['policies', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/policies\/team\.ts could not be loaded/);
    const none = await kgitops(['policies', join(WORK, 'nowhere')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('cdk8s.yaml not found: policies belong to a cdk8s app');
  }, 60_000);
});
