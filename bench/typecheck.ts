/**
 * What the type check before synth costs (engine/synth/typecheck.ts), on the examples and on an
 * app that declares 1,000 workloads one by one (10 files of 100 CloneSets, as a big repo has
 * them; a loop over a list would be cheap to check and says little).
 *
 *   npx tsx bench/typecheck.ts          # both apps, 3 runs each (median)
 *   npx tsx bench/typecheck.ts 3000     # the generated app with this many workloads
 *
 * Prints, per app: the check alone (native tsc in the sandbox) uncached and answered from the
 * cache, and the user-level `kgitops synth --no-write` wall time with the check uncached, cached
 * and with --no-typecheck.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox } from '../engine/sandbox/index.js';
import { prepareDependencies } from '../engine/synth/dependencies.js';
import { ENGINE_ROOT } from '../engine/synth/runtime.js';
import { typecheckApp } from '../engine/synth/typecheck.js';

const RUNS = 3;
const work = mkdtempSync(join(tmpdir(), 'kgitops-bench-typecheck-'));
// One cache home for every CLI run: the compile cache stays seeded; the type-check cache is
// emptied before each uncached run.
const xdg = join(work, 'xdg');
const typecheckCache = join(xdg, 'kruise-gitops', 'engine', 'typecheck');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** An app with `n` CloneSets written out, 100 per file under lib/. */
async function generatedApp(n: number): Promise<string> {
  const dir = join(work, `app-${n}`);
  mkdirSync(join(dir, 'lib'), { recursive: true });
  const files = Math.ceil(n / 100);
  for (let f = 0; f < files; f++) {
    const lines = [
      "import { Chart, Duration } from 'cdk8s';",
      "import * as kplus from 'cdk8s-plus-33';",
      "import { Construct } from 'constructs';",
      "import { CloneSet, CloneSetUpdateStrategy, Release, UpdatePriority } from 'kruise-gitops';",
      '',
      `export class Team${f} extends Chart {`,
      '  constructor(scope: Construct) {',
      `    super(scope, 'team-${f}', { namespace: 'team-${f}' });`,
    ];
    for (let i = f * 100; i < Math.min(n, (f + 1) * 100); i++) {
      lines.push(`    new CloneSet(this, 'svc-${i}', {
      metadata: { name: 'svc-${i}' },
      replicas: ${3 + (i % 5)},
      podMetadata: { labels: { app: 'svc-${i}' } },
      release: Release.canary('10%', '50%', '100%'),
      updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({
        maxSurge: '20%', priority: UpdatePriority.weight({ weight: 100, selector: { matchLabels: { canary: 'true' } } }),
      }),
      minReady: Duration.seconds(5),
      containers: [{
        name: 'main', image: 'registry.example.com/svc-${i}:1.${i % 7}.0', portNumber: 8080,
        readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
        envVariables: { MODE: kplus.EnvValue.fromValue('production') },
        resources: { cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) } },
      }],
    });`);
    }
    lines.push('  }', '}', '');
    writeFileSync(join(dir, 'lib', `team-${f}.ts`), lines.join('\n'));
  }
  const imports = Array.from({ length: files }, (_, f) => `import { Team${f} } from './lib/team-${f}.js';`);
  writeFileSync(join(dir, 'main.ts'), `import { App } from 'kruise-gitops';\n${imports.join('\n')}\nconst app = new App();\n${Array.from({ length: files }, (_, f) => `new Team${f}(app);`).join('\n')}\napp.synth();\n`);
  writeFileSync(join(dir, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
  execFileSync('git', ['init', '-q', dir]);
  await prepareDependencies(dir, dir, { cacheDir: join(work, 'deps') });
  return dir;
}

function cli(dir: string, extra: string[]): { ms: number; typecheckMs: number; objects: number } {
  const t0 = performance.now();
  let out: string;
  try {
    out = execFileSync(process.execPath, [join(ENGINE_ROOT, 'bin/kgitops.mjs'), 'synth', dir, '--no-write', '-o', 'json', ...extra], {
      cwd: ENGINE_ROOT, env: { ...process.env, XDG_CACHE_HOME: xdg }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '{}';
  }
  const ms = performance.now() - t0;
  const r = JSON.parse(out);
  if (!r.ok) throw new Error(`synth of ${dir} failed: ${JSON.stringify(r.diagnostics?.slice(0, 3))}`);
  return { ms, typecheckMs: r.timings.typecheckMs, objects: r.summary.objects };
}

async function bench(label: string, dir: string, root: string): Promise<void> {
  const sandbox = await Sandbox.default();
  const uncached: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const cacheDir = join(work, `tc-${label}-${i}`);
    const first = await typecheckApp(dir, { sandbox, root, command: 'npx tsx main.ts', cacheDir });
    if (!first.ok || first.cached) throw new Error(`${label}: unexpected ${JSON.stringify(first.diagnostics.slice(0, 3))}`);
    uncached.push(first.durationMs);
    const again = await typecheckApp(dir, { sandbox, root, command: 'npx tsx main.ts', cacheDir });
    if (!again.cached) throw new Error(`${label}: second check not cached`);
    cached.push(again.durationMs);
  }
  const runs = { uncached: [] as number[], cached: [] as number[], off: [] as number[] };
  let objects = 0;
  let cliTypecheck = 0;
  cli(dir, ['--no-typecheck']); // seeds the compile cache, so that every run below is alike
  for (let i = 0; i < RUNS; i++) {
    rmSync(typecheckCache, { recursive: true, force: true });
    const u = cli(dir, []);
    runs.uncached.push(u.ms);
    cliTypecheck = u.typecheckMs;
    runs.cached.push(cli(dir, []).ms);
    const off = cli(dir, ['--no-typecheck']);
    runs.off.push(off.ms);
    objects = off.objects;
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`${label} (${objects} objects)`);
  console.log(`  type check alone:        ${s(median(uncached))} uncached, ${s(median(cached))} from the cache`);
  console.log(`  kgitops synth --no-write: ${s(median(runs.uncached))} (check uncached, ${s(cliTypecheck)} of it), ${s(median(runs.cached))} (cached), ${s(median(runs.off))} (--no-typecheck)`);
  console.log(`  cost of the check:       +${s(median(runs.uncached) - median(runs.off))} uncached, +${s(median(runs.cached) - median(runs.off))} cached`);
}

try {
  console.log(`median of ${RUNS} runs; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const arg = process.argv[2];
  if (!arg) await bench('examples', join(ENGINE_ROOT, 'examples'), ENGINE_ROOT);
  const n = arg ? Number(arg) : 1000;
  await bench(`generated app, ${n} CloneSets in ${Math.ceil(n / 100)} files`, await generatedApp(n), join(work, `app-${n}`));
} finally {
  rmSync(work, { recursive: true, force: true });
}
