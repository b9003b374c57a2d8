/**
 * Every command that talks to a cluster, run as a user runs it (`node bin/kgitops.mjs ...`, a
 * child process), with no kubeconfig or one that cannot be used: one `error:` line saying what is
 * wrong (and one `hint:` line), no stack trace, exit 2; with -o json, a JSON error object on
 * stdout. A closed loopback port stands for an unreachable apiserver: it must fail fast.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeconfigText } from '../../fixtures/kubeconfig.js';
import { closedPort } from '../../fixtures/net.js';
import { initRepo, git } from '../../fixtures/git.js';

const BIN = fileURLToPath(new URL('../../../bin/kgitops.mjs', import.meta.url));
const DIR = mkdtempSync(join(tmpdir(), 'kgitops-cluster-cli-'));
/** A home without ~/.kube, and a working directory without kgitops.yaml. */
const HOME = join(DIR, 'home');
const CWD = join(DIR, 'work');
mkdirSync(HOME);
initRepo(CWD);
writeFileSync(join(CWD, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
git(CWD, 'add', '-A');
git(CWD, 'commit', '-q', '-m', 'app');
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string; ms: number }

function kgitops(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = { ...process.env, HOME, ...env };
  if (!('KUBECONFIG' in env)) delete base.KUBECONFIG;
  delete base.KUBERNETES_SERVICE_HOST;
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: CWD, env: base, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Text mode: nothing on stdout; on stderr one error line and at most one hint line. */
function expectOneLine(r: Run, message: RegExp | string): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
  expect(lines[0]).toMatch(/^error: /);
  if (typeof message === 'string') expect(lines[0]).toBe(`error: ${message}`);
  else expect(lines[0]).toMatch(message);
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^hint: \S/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

/** JSON mode: exactly one JSON error object on stdout. */
function expectJsonError(r: Run, reason: string): { message: string; hint?: string; reason: string } {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const out = JSON.parse(r.stdout) as { ok: boolean; error: { message: string; hint?: string; reason: string } };
  expect(out.ok).toBe(false);
  expect(Object.keys(out).sort()).toEqual(['error', 'ok']);
  expect(out.error.reason).toBe(reason);
  expect(out.error.message).not.toContain('\n');
  expect(typeof out.error.hint).toBe('string');
  return out.error;
}

let closed: string;
let port: number;
beforeAll(async () => {
  port = await closedPort();
  closed = join(DIR, 'closed.yaml');
  writeFileSync(closed, kubeconfigText(`https://127.0.0.1:${port}`));
});

// Each test starts up to four CLI processes (tsx compiles on start): seconds each on a busy machine.
describe('kgitops status without a usable kubeconfig', { timeout: 90_000 }, () => {
  it('none at all: says where it looked, not "HTTP protocol is not allowed"', async () => {
    const r = await kgitops(['status', '--app', 'shop']);
    expectOneLine(r, `no kubeconfig found: no --kubeconfig given, KUBECONFIG is not set, ${HOME}/.kube/config does not exist, and this is not a pod`);
    expect(r.stderr).not.toContain('HTTP protocol is not allowed');
    const j = expectJsonError(await kgitops(['status', '--app', 'shop', '-o', 'json']), 'NoKubeconfig');
    expect(j.hint).toContain('--kubeconfig');
  });

  it('KUBECONFIG or --kubeconfig naming a missing file: no raw ENOENT', async () => {
    const missing = join(DIR, 'missing.yaml');
    const env = await kgitops(['status', '--app', 'shop'], { KUBECONFIG: missing });
    expectOneLine(env, `KUBECONFIG=${missing}: no such file`);
    expect(env.stderr).not.toContain('ENOENT');
    expectOneLine(await kgitops(['status', '--app', 'shop', '--kubeconfig', missing]), `kubeconfig ${missing} does not exist`);
    expectJsonError(await kgitops(['status', '--app', 'shop', '-o', 'json'], { KUBECONFIG: missing }), 'NotFound');
  });

  it('garbage YAML, YAML that is no kubeconfig, no current context, an unknown --context', async () => {
    const garbage = join(DIR, 'garbage.yaml');
    writeFileSync(garbage, 'clusters: [\n  - {name: a\n\tfoo: }}}');
    const words = join(DIR, 'words.yaml');
    writeFileSync(words, 'this is not a kubeconfig\n');
    const noContext = join(DIR, 'nocontext.yaml');
    writeFileSync(noContext, kubeconfigText('https://127.0.0.1:6443', { currentContext: null }));
    const [g, w, n, u] = await Promise.all([
      kgitops(['status', '--app', 'shop', '--kubeconfig', garbage]),
      kgitops(['status', '--app', 'shop', '--kubeconfig', words]),
      kgitops(['status', '--app', 'shop', '-o', 'json'], { KUBECONFIG: noContext }),
      kgitops(['status', '--app', 'shop', '--kubeconfig', noContext, '--context', 'prod']),
    ]);
    expectOneLine(g, new RegExp(`^error: kubeconfig ${garbage} is not valid YAML \\(line \\d+, column \\d+\\): `));
    expectOneLine(w, `kubeconfig ${words} is not a kubeconfig: expected a mapping with clusters, contexts and users, got a string`);
    expect(expectJsonError(n, 'NoContext').message).toBe(`the kubeconfig ${noContext} has no current context (its contexts: ctx)`);
    expectOneLine(u, `context "prod" is not in the kubeconfig ${noContext} (its contexts: ctx)`);
  });

  it('an http:// server: refused before any request, with what to do', async () => {
    const http = join(DIR, 'http.yaml');
    writeFileSync(http, kubeconfigText('http://127.0.0.1:8080'));
    const r = await kgitops(['status', '--app', 'shop', '--kubeconfig', http]);
    expectOneLine(r, `cluster "c" of the kubeconfig ${http} has server http://127.0.0.1:8080, plain HTTP, which would send its credentials unencrypted`);
    expect(r.stderr).toMatch(/^hint: use the apiserver's https:\/\/ address/m);
  });

  it('an unreachable server (a closed loopback port): fails fast, naming the server', async () => {
    const r = await kgitops(['status', '--app', 'shop', '--kubeconfig', closed]);
    expectOneLine(r, `cannot reach the cluster "ctx" at https://127.0.0.1:${port} (kubeconfig ${closed}): connection refused (nothing listens there)`);
    // The process start (tsx) is most of it; before, 6 attempts with backoff took 6 s and more.
    expect(r.ms).toBeLessThan(20_000);
    expectJsonError(await kgitops(['status', '--app', 'shop', '--kubeconfig', closed, '-o', 'json']), 'Unreachable');
  });
});

describe('every other command that talks to a cluster', { timeout: 90_000 }, () => {
  const commands: [string, string[]][] = [
    ['approve', ['approve', 'shop/storefront']],
    ['pause', ['pause', 'shop/storefront']],
    ['resume', ['resume', 'shop/storefront']],
    ['abort', ['abort', 'shop/storefront']],
    ['sync --once', ['sync', '--repo', '.', '--once']],
    ['diff --live', ['diff', '.', '--live', '--app', 'shop']],
    ['preview --kubeconfig', ['preview', '.']],
  ];

  it.each(commands)('%s: one line and exit 2 without a kubeconfig; a JSON error object with -o json', async (_, args) => {
    const [none, json] = await Promise.all([
      kgitops(args[0] === 'preview' ? [...args, '--kubeconfig', join(DIR, 'missing.yaml')] : args),
      kgitops([...args, '--kubeconfig', closed, '-o', 'json']),
    ]);
    if (args[0] === 'preview') expectOneLine(none, `kubeconfig ${join(DIR, 'missing.yaml')} does not exist`);
    else expectOneLine(none, /^error: no kubeconfig found: /);
    expect(expectJsonError(json, 'Unreachable').message).toContain(`https://127.0.0.1:${port}`);
  });

  it('demo --kubeconfig: the same line, exit 2', async () => {
    expectOneLine(await kgitops(['demo', '--kubeconfig', closed]), /^error: cannot reach the cluster "ctx" at https:\/\/127\.0\.0\.1:\d+ /);
  });

  it('a bad --output is a usage error, not a crash', async () => {
    const r = await kgitops(['status', '--app', 'shop', '-o', 'yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--output must be text or json, got "yaml"');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
