/**
 * Credentials the real apiserver does not accept, through the CLI as a user runs it: a bogus
 * token (401) and a ServiceAccount that RBAC allows nothing (403). Either way: one error line
 * naming the problem, a hint, exit 2, and with -o json a JSON error object on stdout.
 */
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { apply, kubeConfig, kubeconfigPath, withNamespace } from '../cluster/harness.js';

const BIN = fileURLToPath(new URL('../../bin/kgitops.mjs', import.meta.url));
const DIR = mkdtempSync(join(tmpdir(), 'kgitops-credentials-'));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

/** The admin kubeconfig with its user's credentials replaced by `token`. */
function withToken(name: string, token: string): string {
  const admin = parseYaml(readFileSync(kubeconfigPath(), 'utf8'));
  const file = join(DIR, `${name}.kubeconfig`);
  writeFileSync(file, stringifyYaml({ ...admin, users: admin.users.map((u: { name: string }) => ({ name: u.name, user: { token } })) }), { mode: 0o600 });
  return file;
}

interface Run { code: number; stdout: string; stderr: string }

function kgitops(args: string[]): Promise<Run> {
  const env = { ...process.env };
  delete env.KUBECONFIG;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: DIR, env, timeout: 50_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function expectOneLine(r: Run, message: RegExp): string[] {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(2);
  expect(lines[0]).toMatch(message);
  expect(lines[1]).toMatch(/^hint: \S/);
  return lines;
}

function expectJson(r: Run, reason: string): { message: string; hint: string } {
  expect(r.code, r.stderr).toBe(2);
  const out = JSON.parse(r.stdout);
  expect(out).toMatchObject({ ok: false, error: { reason } });
  expect(typeof out.error.message).toBe('string');
  expect(typeof out.error.hint).toBe('string');
  return out.error;
}

describe('credentials the apiserver refuses', () => {
  it('a bogus token (401): status and approve say the credentials were rejected, before anything else', async () => {
    const bogus = withToken('bogus', 'not-a-token-this-apiserver-knows');
    const [text, json, approve] = await Promise.all([
      kgitops(['status', '--app', 'shop', '--kubeconfig', bogus]),
      kgitops(['status', '--app', 'shop', '--kubeconfig', bogus, '-o', 'json']),
      kgitops(['approve', 'shop/web', '--kubeconfig', bogus, '-o', 'json']),
    ]);
    const [line, hint] = expectOneLine(text, /^error: the cluster ".+" at https:\/\/127\.0\.0\.1:\d+ \(kubeconfig .*bogus\.kubeconfig\) rejected the credentials of user ".+" \(401 Unauthorized\)$/);
    expect(line).not.toContain('not-a-token');
    expect(hint).toContain('wrong or has expired');
    expect(expectJson(json, 'Unauthorized').message).toContain('(401 Unauthorized)');
    expectJson(approve, 'Unauthorized');
  }, 60_000);

  it('a ServiceAccount RBAC allows nothing (403): the verb and resource it lacks, exit 2', () =>
    withNamespace(async (ns) => {
      await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody', namespace: ns } });
      const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
      const review = await core.createNamespacedServiceAccountToken({ name: 'nobody', namespace: ns, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
      const nobody = withToken(`nobody-${ns}`, review.status!.token);
      const [text, json, approve] = await Promise.all([
        kgitops(['status', '--app', 'shop', '-n', ns, '--kubeconfig', nobody]),
        kgitops(['status', '--app', 'shop', '-n', ns, '--kubeconfig', nobody, '-o', 'json']),
        kgitops(['approve', 'shop/web', '-n', ns, '--kubeconfig', nobody]),
      ]);
      const [, hint] = expectOneLine(text, new RegExp(`^error: missing permission: get configmaps kgitops-shop in namespace ${ns} is forbidden \\(403\\): .*system:serviceaccount:${ns}:nobody`));
      expect(hint).toBe('hint: grant the verb "get" on configmaps to the engine\'s user (a Role or ClusterRole and a binding)');
      expect(expectJson(json, 'Forbidden').message).toContain('missing permission: get configmaps');
      expectOneLine(approve, /^error: missing permission: get configmaps kgitops-shop/);
    }), 60_000);
});
