/**
 * `kgitops diff` between two refs of a 1,000-workload repo, against one synth of the same repo.
 * The repo (a git repo under .cache/, so it resolves `kruise-gitops` like a user's checkout)
 * renders N CloneSets from versions.json and has a policies/ directory (the child-process path);
 * the head commit changes 50 images and 10 replica counts.
 *
 *   npx tsx bench/diff.ts          # N = 1000, 3 runs each
 *   npx tsx bench/diff.ts 2000 5
 *
 * Prints median wall times: in-process (synthesize vs diffRefs) and as a user runs them (the CLI,
 * Node start-up included). Bar (issue 6): diff under 2x one synth.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diffRefs } from '../engine/diff/run.js';
import { synthesize } from '../engine/synth/index.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const N = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 3);
const REPO = join(ROOT, '.cache', `bench-diff-${process.pid}`);

const MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { App, CloneSet, CloneSetUpdateStrategy, UpdatePriority } from 'kruise-gitops';

const versions: { image: string; replicas: number }[] = JSON.parse(readFileSync(new URL('./versions.json', import.meta.url), 'utf8'));
const app = new App();
const charts = Array.from({ length: Math.ceil(versions.length / 250) }, (_, i) => new Chart(app, \`team-\${i}\`, { namespace: \`team-\${i}\` }));
versions.forEach((v, i) => {
  new CloneSet(charts[Math.floor(i / 250)], \`svc-\${i}\`, {
    metadata: { name: \`svc-\${i}\` },
    replicas: v.replicas,
    podMetadata: { labels: { app: \`svc-\${i}\` } },
    updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({
      maxSurge: '20%', priority: UpdatePriority.weight({ weight: 100, selector: { matchLabels: { canary: 'true' } } }),
    }),
    minReady: Duration.seconds(5),
    containers: [{
      name: 'main', image: v.image, portNumber: 8080,
      readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
      envVariables: { MODE: kplus.EnvValue.fromValue('production') },
    }],
  });
});
app.synth();
`;

const POLICY = `import { definePolicy, policySet } from 'kruise-gitops/policy';
export default policySet({
  builtin: { disruptionBudget: false },
  policies: [definePolicy({ name: 'app-label', kinds: ['CloneSet'], check(o, ctx) { if (!o.manifest.spec.template.metadata?.labels?.app) ctx.report('no app label'); } })],
});
`;

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
}

function versions(changed: boolean) {
  return Array.from({ length: N }, (_, i) => ({
    image: `registry.example.com/svc-${i}:1.${i % 7}.${changed && i % 20 === 0 ? 1 : 0}`,
    replicas: 3 + ((i + (changed && i % 100 === 1 ? 1 : 0)) % 5),
  }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await f();
  return [performance.now() - t0, r];
}

function cli(args: string[]): number {
  const t0 = performance.now();
  try {
    execFileSync(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'ignore'] });
  } catch (e) {
    if ((e as { status?: number }).status !== 1) throw e; // 1: changes found
  }
  return performance.now() - t0;
}

rmSync(REPO, { recursive: true, force: true });
mkdirSync(join(REPO, 'policies'), { recursive: true });
try {
  writeFileSync(join(REPO, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
  writeFileSync(join(REPO, 'main.ts'), MAIN);
  writeFileSync(join(REPO, 'policies/index.ts'), POLICY);
  writeFileSync(join(REPO, '.gitignore'), 'dist/\n');
  writeFileSync(join(REPO, 'versions.json'), JSON.stringify(versions(false)));
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 'bench@example.com');
  git('config', 'user.name', 'Bench');
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
  writeFileSync(join(REPO, 'versions.json'), JSON.stringify(versions(true)));
  git('commit', '-q', '-am', 'head');

  // Warm-up: the engine runtime symlinks and tsx's compile cache exist after one run of each.
  await synthesize(REPO);
  await diffRefs({ dir: REPO, base: 'HEAD~1', head: 'HEAD' });

  const synthMs: number[] = [];
  const diffMs: number[] = [];
  const phases: Record<string, number>[] = [];
  let counts = {};
  for (let i = 0; i < RUNS; i++) {
    const [s, sr] = await timed(() => synthesize(REPO));
    if (!sr.ok) throw new Error(`synth failed: ${JSON.stringify(sr.diagnostics.find((d) => d.severity === 'error'))}`);
    synthMs.push(s);
    const [d, dr] = await timed(() => diffRefs({ dir: REPO, base: 'HEAD~1', head: 'HEAD' }));
    diffMs.push(d);
    phases.push(dr.timings ?? {});
    counts = { ...dr.counts, unchanged: dr.unchanged, release: dr.objects.filter((o) => o.release.length).length };
  }
  const cliSynth = Array.from({ length: RUNS }, () => cli(['synth', '.', '--no-write']));
  const cliDiff = Array.from({ length: RUNS }, () => cli(['diff', '.', '--base', 'HEAD~1', '--head', 'HEAD', '-o', 'json']));
  const ms = (x: number) => `${(x / 1000).toFixed(2)} s`;
  console.log(`diff of a ${N}-CloneSet repo between two refs (${RUNS} runs, medians, ${process.env.CPUS ?? (await import('node:os')).availableParallelism()} cores)`);
  console.log(`  changes: ${JSON.stringify(counts)}`);
  console.log(`  in-process: synth ${ms(median(synthMs))}, diff ${ms(median(diffMs))}  -> ratio ${(median(diffMs) / median(synthMs)).toFixed(2)}`);
  console.log(`  diff phases (median run): ${Object.entries(phases[Math.floor(RUNS / 2)]).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`);
  console.log(`  CLI: kgitops synth --no-write ${ms(median(cliSynth))}, kgitops diff ${ms(median(cliDiff))}  -> ratio ${(median(cliDiff) / median(cliSynth)).toFixed(2)}`);
  console.log(`  bar: diff < 2x synth: ${median(diffMs) < 2 * median(synthMs) && median(cliDiff) < 2 * median(cliSynth) ? 'met' : 'NOT met'}`);
} finally {
  rmSync(REPO, { recursive: true, force: true });
}
