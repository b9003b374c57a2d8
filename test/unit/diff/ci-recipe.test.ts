/**
 * The GitHub Actions recipe in the README, run for real: its diff step (the exact script, with
 * the base branch filled in) in a git repo whose pull request changes the examples, then its
 * failing step's condition and script. Only `actions/*` and `gh` (GitHub itself) are left out.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initRepo } from '../../fixtures/git.js';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REPO = join(ROOT, '.cache', `test-ci-recipe-${process.pid}`);

interface Step { id?: string; name?: string; run?: string; if?: string; uses?: string }

function workflow(): { steps: Step[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- ci-recipe:start -->\n```yaml\n([\s\S]*?)```\n<!-- ci-recipe:end -->/.exec(readme);
  if (!block) throw new Error('README has no ci-recipe block');
  return parse(block[1]).jobs.diff;
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
}

/** Runs a step's script as Actions does (bash -e), with the expressions it uses filled in. */
function runStep(step: Step, outputFile: string): { code: number; stdout: string; stderr: string } {
  const script = step.run!.replaceAll('${{ github.base_ref }}', 'main');
  expect(script).not.toContain('${{');
  const r = spawnSync('bash', ['-e', '-c', script], { cwd: REPO, env: { ...process.env, GITHUB_OUTPUT: outputFile }, encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** `steps.diff.outputs.code == '2'`, evaluated on what the diff step wrote. */
function condition(expr: string, outputs: Record<string, string>): boolean {
  const m = /^steps\.diff\.outputs\.(\w+) == '(\w+)'$/.exec(expr);
  if (!m) throw new Error(`unexpected condition ${expr}`);
  return outputs[m[1]] === m[2];
}

function outputs(file: string): Record<string, string> {
  return Object.fromEntries(readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split('=') as [string, string]));
}

beforeAll(() => {
  rmSync(REPO, { recursive: true, force: true });
  mkdirSync(join(REPO, 'examples'), { recursive: true });
  for (const f of ['cdk8s.yaml', 'main.ts', 'lib', 'policies']) cpSync(join(ROOT, 'examples', f), join(REPO, 'examples', f), { recursive: true });
  writeFileSync(join(REPO, '.gitignore'), 'dist/\ndiff.md\n');
  initRepo(REPO);
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
  // As after actions/checkout with fetch-depth 0: the base branch is a remote-tracking ref.
  git('update-ref', 'refs/remotes/origin/main', 'HEAD');
  git('checkout', '-q', '-b', 'pr');
});

afterAll(() => rmSync(REPO, { recursive: true, force: true }));

function commitChange(from: string, to: string): void {
  const file = join(REPO, 'examples/lib/shop.ts');
  writeFileSync(file, readFileSync(file, 'utf8').replace(from, to));
  git('commit', '-q', '-am', `change ${to}`);
}

describe('the GitHub Actions recipe in the README', () => {
  it('writes the markdown comment, records exit code 1 for changes, and passes the check', () => {
    const steps = workflow().steps;
    const diff = steps.find((s) => s.id === 'diff')!;
    const fail = steps.find((s) => s.if)!;
    expect(steps.find((s) => s.run?.includes('gh pr comment'))?.run).toContain('--body-file diff.md');
    commitChange("shop/storefront:2.14.1'", "shop/storefront:2.15.0'");
    const out = join(REPO, '.github-output-1');
    const r = runStep(diff, out);
    expect(r.code).toBe(0); // set +e: the step itself succeeds, the code goes to the output
    expect(outputs(out)).toEqual({ code: '1' });
    const comment = readFileSync(join(REPO, 'diff.md'), 'utf8');
    expect(comment).toMatch(/^### kgitops diff: `examples`\n\n`origin\/main \([0-9a-f]{12}\)` → `HEAD \([0-9a-f]{12}\)`: \*\*1 changed, 0 added, 0 removed, 12 unchanged\*\*/);
    expect(comment).toContain('| 🟡 changed | CloneSet `shop/storefront` | 1 | image `registry.example.com/shop/storefront:2.14.1` → `registry.example.com/shop/storefront:2.15.0`; release: 3 step(s), ≥ 18m30s |');
    expect(condition(fail.if!, outputs(out))).toBe(false);
  }, 90_000);

  it('fails the check when the pull request breaks a policy, after writing the comment', () => {
    const steps = workflow().steps;
    const diff = steps.find((s) => s.id === 'diff')!;
    const fail = steps.find((s) => s.if)!;
    commitChange("shop/storefront:2.15.0'", "shop/storefront:latest'");
    const out = join(REPO, '.github-output-2');
    expect(runStep(diff, out).code).toBe(0);
    expect(outputs(out)).toEqual({ code: '2' });
    expect(readFileSync(join(REPO, 'diff.md'), 'utf8')).toContain('This commit would not be applied.');
    expect(condition(fail.if!, outputs(out))).toBe(true);
    const failed = runStep(fail, out);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('::error::kgitops diff found errors');
  }, 90_000);
});
