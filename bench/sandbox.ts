/**
 * What the sandbox costs, with and without it in one run (alternating, so both see the same
 * machine):
 *
 *   1. one process: `true` started in the sandbox vs. as a plain child process;
 *   2. the engine's path: a commit synthesized by pre-started workers (the sync engine's warm
 *      pool), sandboxed vs. --unsafe-no-sandbox: a 100-CloneSet repo, and the examples with their
 *      policies/ (the app and the policies each in a worker);
 *   3. as a user runs it: `kgitops synth examples --no-write`, with and without the sandbox.
 *
 *   npx tsx bench/sandbox.ts [runs]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS, Sandbox } from '../engine/sandbox/index.js';
import { engineRuntime, prepareDependencies } from '../engine/synth/dependencies.js';
import { synthesize } from '../engine/synth/index.js';
import { WarmSynthPool } from '../engine/synth/warm.js';
import { GitApp } from '../test/fixtures/git-app.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNS = Number(process.argv[2] ?? 7);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${Math.round(x)} ms`;

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const sandboxed = await Sandbox.default();
const unsafe = Sandbox.unsafe({ warn: () => {} });
const cache = mkdtempSync(join(tmpdir(), 'kgitops-bench-sandbox-'));
const lines: string[] = [`sandbox: ${sandboxed.describe()[0]}; ${sandboxed.describe()[3]}`];

try {
  // 1. One process.
  const start = (s: Sandbox) => timed(() => s.spawn({ command: ['/usr/bin/true'], cwd: '/', env: {}, binds: [], limits: DEFAULT_LIMITS }, 'ignore').exited);
  const one = { sandboxed: [] as number[], unsafe: [] as number[] };
  for (let i = 0; i < RUNS * 3; i++) { one.sandboxed.push(await start(sandboxed)); one.unsafe.push(await start(unsafe)); }
  lines.push(`start and end one process (true): sandboxed ${ms(median(one.sandboxed))}, plain ${ms(median(one.unsafe))} (medians of ${RUNS * 3})`);

  // 2. The engine's path: a warm worker per commit.
  const repo = new GitApp();
  repo.commit({ namespace: 'bench', objects: [], clonesets: Array.from({ length: 100 }, (_, i) => ({ name: `web-${i}`, replicas: 2, image: `registry.example.com/web:${i}` })) });
  await prepareDependencies(repo.dir, repo.dir, { cacheDir: cache });
  const pools = {
    sandboxed: new WarmSynthPool({ sandbox: sandboxed, slotsDir: join(cache, 'slots'), binds: [{ source: engineRuntime(cache) }] }),
    unsafe: new WarmSynthPool({ sandbox: unsafe, slotsDir: join(cache, 'slots'), binds: [{ source: engineRuntime(cache) }] }),
  };
  const engine = { sandboxed: [] as number[], unsafe: [] as number[] };
  for (const p of Object.values(pools)) p.prewarm();
  await new Promise((r) => setTimeout(r, 3000));
  for (let i = 0; i < RUNS; i++) {
    for (const k of ['sandboxed', 'unsafe'] as const) {
      const t = await timed(async () => {
        const r = await synthesize(repo.dir, { root: repo.dir, warm: pools[k], sandbox: k === 'sandboxed' ? sandboxed : unsafe });
        if (!r.ok || r.objects.length !== 100) throw new Error(`synth failed: ${JSON.stringify(r.diagnostics.slice(0, 2))}`);
      });
      engine[k].push(t);
      await new Promise((r) => setTimeout(r, 1500)); // the next spare worker starts meanwhile, as between commits
    }
  }
  repo.remove();
  lines.push(`engine synth of a 100-CloneSet commit (warm worker; built-in policies): sandboxed ${ms(median(engine.sandboxed))}, unsandboxed ${ms(median(engine.unsafe))} (medians of ${RUNS})`);

  const examples = join(cache, 'examples');
  for (const f of ['cdk8s.yaml', 'main.ts', 'lib', 'policies']) cpSync(join(ROOT, 'examples', f), join(examples, f), { recursive: true });
  execFileSync('git', ['init', '-q', examples]);
  await prepareDependencies(examples, examples, { cacheDir: cache });
  for (const p of Object.values(pools)) p.keepReady(2);
  await new Promise((r) => setTimeout(r, 4000));
  const withPolicies = { sandboxed: [] as number[], unsafe: [] as number[] };
  for (let i = 0; i < RUNS + 1; i++) {
    for (const k of ['sandboxed', 'unsafe'] as const) {
      const t = await timed(async () => {
        const r = await synthesize(examples, { root: examples, warm: pools[k], sandbox: k === 'sandboxed' ? sandboxed : unsafe });
        if (!r.ok || r.policies.length !== 8) throw new Error(`synth failed: ${JSON.stringify(r.diagnostics.slice(0, 2))}`);
      });
      // The first of each compiles the schema validators in this process: not the sandbox's cost.
      if (i > 0) withPolicies[k].push(t);
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
  for (const p of Object.values(pools)) p.close();
  lines.push(`engine synth of the examples with their 8 policies (two warm workers): sandboxed ${ms(median(withPolicies.sandboxed))}, unsandboxed ${ms(median(withPolicies.unsafe))} (medians of ${RUNS})`);

  // 3. As a user runs it.
  const cli = (extra: string[]) => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'synth', 'examples', '--no-write', ...extra], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kgitops synth failed: ${r.stderr}`);
    return performance.now() - t0;
  };
  const user = { sandboxed: [] as number[], unsafe: [] as number[] };
  for (let i = 0; i < RUNS; i++) { user.sandboxed.push(cli([])); user.unsafe.push(cli(['--unsafe-no-sandbox'])); }
  lines.push(`kgitops synth examples --no-write: sandboxed ${ms(median(user.sandboxed))}, --unsafe-no-sandbox ${ms(median(user.unsafe))} (medians of ${RUNS})`);
} finally {
  rmSync(cache, { recursive: true, force: true });
  execFileSync('true');
}
process.stdout.write(`${lines.join('\n')}\n`);
