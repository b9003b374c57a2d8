/**
 * Runs the policies of an app directory. Without a `policies/` directory only the built-in pack
 * runs, as warnings, in this process (it is our code). With one, the repo's policy files run in a child
 * process like the app itself: allow-listed environment, no cluster credentials, a timeout.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RenderedObject } from '../../dsl/app.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { baseLimits, heapMiB, Sandbox, type SandboxLimits, withLimits } from '../sandbox/index.js';
import { assertNoOutsideSymlinks, confinedPath, RepoPathError } from '../source/confine.js';
import { appBinds, checkoutRoot } from '../synth/run-app.js';
import { CHILD_NODE_FLAGS, MODULE_EXT } from '../synth/runtime.js';
import { transformCacheBinds } from '../synth/transform-cache.js';
import type { WarmSynthPool } from '../synth/warm.js';
import type { PolicyTarget } from './api.js';
import { advisoryPolicies } from './builtin.js';
import { describePolicies, evaluatePolicies, type PolicyInfo } from './run.js';

const CHILD = fileURLToPath(new URL(`./child${MODULE_EXT}`, import.meta.url));

/** The directory, next to cdk8s.yaml, that holds a repo's policies. */
export const POLICIES_DIR = 'policies';

export interface PolicyResult {
  readonly diagnostics: Diagnostic[];
  /** Names of the policies that ran (the catalog's names). */
  readonly policies: string[];
  /** The policies that ran, as configured, with where each comes from. */
  readonly catalog: PolicyInfo[];
  /** True when the repo has `policies/` (errors block); false: the built-in pack only advises. */
  readonly enforced: boolean;
  readonly durationMs: number;
}

export interface PolicyOptions {
  /** @default 60 s */
  readonly timeoutMs?: number;
  /** Where the policy files run. @default Sandbox.default() */
  readonly sandbox?: Sandbox;
  /** Warm workers of the engine: the policies are served by one of them. */
  readonly warm?: WarmSynthPool;
  /** The checkout the app belongs to. @default its git work tree, or the app directory */
  readonly root?: string;
  readonly limits?: Partial<SandboxLimits>;
}

function result(diagnostics: Diagnostic[], catalog: PolicyInfo[], enforced: boolean, startedAt: number): PolicyResult {
  return { diagnostics, policies: catalog.map((p) => p.name), catalog, enforced, durationMs: Math.round(performance.now() - startedAt) };
}

function targets(objects: readonly RenderedObject[]): PolicyTarget[] {
  return objects.map((o) => ({ manifest: o.manifest as PolicyTarget['manifest'], constructPath: o.constructPath, chart: o.chart, ...(o.source ? { source: o.source } : {}) }));
}

/** The policy modules of a `policies/` directory, sorted: TypeScript or JavaScript, not tests or type declarations. */
export function policyFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /\.[cm]?[jt]sx?$/.test(f) && !/\.d\.[cm]?ts$|\.test\./.test(f)).sort();
}

export function hasPolicyFiles(appDir: string): boolean {
  return policyFiles(join(appDir, POLICIES_DIR)).length > 0;
}

/**
 * Starts the policies of `appDir` (a child process starts loading the repo's policy files at
 * once); `check` then evaluates a rendered set. Call `check` at most once.
 */
export function startPolicies(appDir: string, options: PolicyOptions = {}): { check(objects: readonly RenderedObject[], previous?: readonly RenderedObject[]): Promise<PolicyResult>; close(): void } {
  const started = performance.now();
  // Absolute: the child runs in appDir, where a relative path would point elsewhere.
  const dir = resolve(appDir);
  const root = options.root ? resolve(options.root) : checkoutRoot(dir);
  const policiesDir = join(dir, POLICIES_DIR);
  let stderr = '';
  const failure = (message: string, hint?: string): PolicyResult => result(
    [{ severity: 'error', rule: 'policy/failed', message, hint: hint ?? (stderr.trim() ? `output of the policy process:\n${stderr.trim().split('\n').slice(-20).map((l) => `    ${l}`).join('\n')}` : 'run `kgitops synth` locally to see the policies run') }],
    [], true, started);
  // Checked before anything lists or loads policies/: a symlink out of the checkout is refused unread.
  try {
    confinedPath(root, relative(root, policiesDir), 'policies directory');
    assertNoOutsideSymlinks(root, policiesDir);
  } catch (e) {
    if (!(e instanceof RepoPathError)) throw e;
    return { check: async () => failure(e.message, e.hint), close() {} };
  }
  if (!hasPolicyFiles(appDir)) {
    return {
      async check(objects, previous) {
        const t0 = performance.now();
        const policies = advisoryPolicies();
        const diagnostics = evaluatePolicies(policies, targets(objects), previous ? { previous: targets(previous) } : {});
        return result(diagnostics, describePolicies(policies), false, t0);
      },
      close() {},
    };
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  const limits = withLimits(baseLimits(), { ...options.limits, wallMs: timeoutMs });
  // Policy files are repo code: they run in the sandbox, like the app; in the engine, in a warm
  // worker (the policy API already loaded), otherwise in a process of their own.
  const starting = (async () => {
    if (options.warm) {
      const { process: p, ready } = await options.warm.policies({ appDir: dir, root, limits });
      p.child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 64_000) stderr += d.toString(); });
      return { p, ready };
    }
    const sandbox = options.sandbox ?? (await Sandbox.default());
    const p = sandbox.spawn({
      command: [process.execPath, `--max-old-space-size=${heapMiB(limits)}`, ...CHILD_NODE_FLAGS, CHILD, policiesDir],
      cwd: dir, env: { FORCE_COLOR: '0' }, binds: [...appBinds(dir, root), ...(await transformCacheBinds(sandbox))], limits,
    }, ['ignore', 'ignore', 'pipe', 'ipc']);
    p.child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 64_000) stderr += d.toString(); });
    // Listening from the start: the first message is 'ready', and it must not be missed.
    const ready = new Promise<void>((resolve) => p.child.once('message', () => resolve()));
    return { p, ready };
  })();
  starting.catch(() => {});
  let closed = false;
  const kill = () => { closed = true; void starting.then(({ p }) => p.kill(), () => {}); };
  return {
    async check(objects, previous) {
      let launched: Awaited<typeof starting>;
      try {
        launched = await starting;
      } catch (e) {
        return failure(`the policy process could not start: ${(e as Error).message}`);
      }
      const { p, ready } = launched;
      const { child } = p;
      const exited = p.exited.then((e) => e.code);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
      try {
        if (closed) return failure('the policy process was closed before it checked anything');
        const up = await Promise.race([ready.then(() => 'ready' as const), exited.then(() => 'exit' as const), timeout]);
        if (up === 'timeout') { p.kill(); return failure(`the policies in ${POLICIES_DIR}/ did not load within ${Math.round(timeoutMs / 1000)} s`); }
        if (up === 'exit') return failure(`the policy process exited before it was ready (code ${await exited})`);
        type Answer = Pick<PolicyResult, 'diagnostics' | 'catalog'>;
        const answer = new Promise<Answer>((resolve) => child.once('message', (m) => resolve(m as Answer)));
        child.send({ objects: targets(objects), ...(previous ? { previous: targets(previous) } : {}) });
        const r = await Promise.race([answer, exited.then(() => 'exit' as const), timeout]);
        if (r === 'timeout') { p.kill(); return failure(`the policies did not finish within ${Math.round(timeoutMs / 1000)} s and were stopped`); }
        if (r === 'exit') return failure(`the policy process exited while checking (code ${await exited})`);
        return result(r.diagnostics, r.catalog, true, started);
      } finally {
        clearTimeout(timer);
      }
    },
    close: kill,
  };
}

/** Starts and checks in one go (when there is nothing to overlap with). */
export async function checkPolicies(appDir: string, objects: readonly RenderedObject[], previous?: readonly RenderedObject[], options: PolicyOptions = {}): Promise<PolicyResult> {
  const runner = startPolicies(appDir, options);
  try {
    return await runner.check(objects, previous);
  } finally {
    runner.close();
  }
}
