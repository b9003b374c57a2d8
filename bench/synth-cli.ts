/**
 * `kgitops synth --no-write` as a user runs it, against raw cdk8s synth of the same objects, in
 * one run on the same machine:
 *
 *   - kgitops: `node bin/kgitops.mjs synth <dir> --no-write`, a child process, sandbox on; an app
 *     of N kruise-gitops CloneSets (cdk8s-plus containers, probes, in-place strategy,
 *     priorities), first cold (empty compile caches, as a user's first run), then warm;
 *   - raw cdk8s: `npx tsx main.ts` and `npx cdk8s synth` of an app of plain cdk8s ApiObjects with
 *     the very manifests the DSL renders (written to dist/ as YAML, as cdk8s does), cold and warm.
 *
 * Two apps of each: CloneSets that pass every check, and CloneSets that each trigger a warning
 * (more replicas than the built-in disruption-budget rule allows without a budget).
 *
 *   npx tsx bench/synth-cli.ts             # 10,000 CloneSets, 3 warm runs (medians)
 *   npx tsx bench/synth-cli.ts 2000 5      # N CloneSets, warm runs
 *
 * Prints wall times, the ratio kgitops / raw, and kgitops's phases: start-up (Node, tsx, the
 * CLI), the app (in the sandbox, its output read back), validation, policies, and the rest
 * (printing, exit). The phases come from `-o json` (`timings`) of the same warm runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const N = Number(process.argv[2] ?? 10_000);
const WARM_RUNS = Number(process.argv[3] ?? 3);
// Inside the package, so that `import ... from 'kruise-gitops'` resolves as in a user repo.
const WORK = join(ROOT, '.cache', `bench-synth-cli-${process.pid}`);

/** The DSL app: N CloneSets in charts of 1,000; `replicas` picks whether each trips disruption-budget. */
function dslApp(n: number, replicas: string): string {
  return `import { Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { App, CloneSet, CloneSetUpdateStrategy, UpdatePriority } from 'kruise-gitops';

const app = new App();
const charts: Chart[] = [];
for (let i = 0; i < ${n}; i++) {
  const c = Math.floor(i / 1000);
  charts[c] ??= new Chart(app, \`team-\${c}\`, { namespace: \`team-\${c}\` });
  new CloneSet(charts[c], \`svc-\${i}\`, {
    metadata: { name: \`svc-\${i}\` },
    replicas: ${replicas},
    podMetadata: { labels: { app: \`svc-\${i}\` } },
    updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({
      maxSurge: '20%', partition: '50%',
      priority: UpdatePriority.weight({ weight: 100, selector: { matchLabels: { canary: 'true' } } }),
    }),
    minReady: Duration.seconds(5),
    containers: [{
      name: 'main', image: \`registry.example.com/svc-\${i}:1.\${i % 7}.0\`, portNumber: 8080,
      readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
      envVariables: { MODE: kplus.EnvValue.fromValue('production') },
    }],
  });
}
app.synth();
`;
}

/** The raw cdk8s app: the same manifests as plain ApiObjects, from the DSL app's rendered JSON. */
const RAW_APP = `import { readFileSync } from 'node:fs';
import { ApiObject, App, Chart } from 'cdk8s';

const objects: { chart: string; manifest: any }[] = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const charts = new Map<string, Chart>();
for (const { chart, manifest } of objects) {
  if (!charts.has(chart)) charts.set(chart, new Chart(app, chart, { namespace: manifest.metadata.namespace }));
  new ApiObject(charts.get(chart)!, manifest.metadata.name, manifest);
}
app.synth();
`;

/** Wall time, and CPU time (user + system, the command and every process it waited for). */
interface Timed { ms: number; cpuMs: number; code: number; stdout: string; stderr: string }

// GNU time, when there, measures the CPU of the command's whole process tree (the sandboxed app
// included): on a machine shared with other work, CPU time says more than wall time.
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

function run(command: string, args: string[], cwd: string, env: Record<string, string>): Promise<Timed> {
  const cpuFile = join(WORK, `cpu-${Math.random().toString(36).slice(2)}`);
  const [cmd, argv] = GNU_TIME ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, command, ...args]] : [command, args];
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(cmd, argv, { cwd, env: { ...process.env, FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.once('close', (code) => {
      const ms = performance.now() - t0;
      let cpuMs = Number.NaN;
      try {
        const [user, system] = readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
        cpuMs = (user + system) * 1000;
        rmSync(cpuFile);
      } catch { /* no GNU time */ }
      resolve({ ms, cpuMs, code: code ?? 1, stdout, stderr });
    });
  });
}

function must(r: Timed, what: string, codes: number[] = [0]): Timed {
  if (!codes.includes(r.code)) throw new Error(`${what} exited with ${r.code}:\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`);
  return r;
}

const coldDirs: string[] = [];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Fresh compile caches (tsx's in TMPDIR, the engine's seeded sandbox cache in XDG_CACHE_HOME): a user's first run. */
function coldEnv(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'kgitops-bench-cold-'));
  // Like /tmp: the sandbox's user (not ours, when we are root) reads what the engine stages there.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'tmp'), { mode: 0o1777 });
  chmodSync(join(dir, 'tmp'), 0o1777);
  coldDirs.push(dir);
  return { TMPDIR: join(dir, 'tmp'), XDG_CACHE_HOME: join(dir, 'cache') };
}

interface Case { name: string; replicas: string; expectWarnings: number }

async function measureCase(c: Case): Promise<string[]> {
  const dir = join(WORK, c.name);
  const dsl = join(dir, 'dsl');
  const raw = join(dir, 'raw');
  mkdirSync(dsl, { recursive: true });
  mkdirSync(raw, { recursive: true });
  writeFileSync(join(dsl, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
  writeFileSync(join(dsl, 'main.ts'), dslApp(N, c.replicas));
  writeFileSync(join(raw, 'cdk8s.yaml'), 'language: typescript\napp: npx tsx main.ts\n');
  writeFileSync(join(raw, 'main.ts'), RAW_APP);
  // The raw app's input: exactly what the DSL app renders (its protocol output, outside any sandbox).
  const protocolFile = join(dir, 'protocol.json');
  const appAlone = must(await run(process.execPath, ['--import', 'tsx', join(dsl, 'main.ts')], dsl, { KGITOPS_SYNTH_OUTPUT: protocolFile }), 'the DSL app');
  execFileSync(process.execPath, ['-e', `
    const fs = require('node:fs');
    const out = JSON.parse(fs.readFileSync(${JSON.stringify(protocolFile)}, 'utf8'));
    fs.writeFileSync(${JSON.stringify(join(raw, 'objects.json'))}, JSON.stringify(out.objects.map((o) => ({ chart: o.chart, manifest: o.manifest }))));
  `]);

  const kgitops = (env: Record<string, string>, json = false) => run(process.execPath,
    [join(ROOT, 'bin/kgitops.mjs'), 'synth', dsl, '--no-write', ...(json ? ['-o', 'json'] : [])], ROOT, env);
  const tsxRaw = (env: Record<string, string>) => run('npx', ['tsx', 'main.ts'], raw, env);
  const cdk8sRaw = (env: Record<string, string>) => run('npx', ['cdk8s', 'synth'], raw, env);

  // Cold: each with caches of its own, empty.
  const cold = {
    kgitops: must(await kgitops(coldEnv()), 'kgitops synth (cold)'),
    tsx: must(await tsxRaw(coldEnv()), 'npx tsx main.ts (cold)'),
    cdk8s: must(await cdk8sRaw(coldEnv()), 'npx cdk8s synth (cold)'),
  };
  // Warm: one set of caches, filled by a first run that is not counted.
  const warmEnv = coldEnv();
  must(await kgitops(warmEnv), 'kgitops synth');
  must(await tsxRaw(warmEnv), 'npx tsx main.ts');
  const warm = { kgitops: [] as Timed[], json: [] as Timed[], tsx: [] as Timed[], cdk8s: [] as Timed[] };
  for (let i = 0; i < WARM_RUNS; i++) {
    // Alternating, so that every command sees the same machine (other load comes and goes).
    warm.kgitops.push(must(await kgitops(warmEnv), 'kgitops synth'));
    warm.json.push(must(await kgitops(warmEnv, true), 'kgitops synth -o json'));
    warm.tsx.push(must(await tsxRaw(warmEnv), 'npx tsx main.ts'));
    warm.cdk8s.push(must(await cdk8sRaw(warmEnv), 'npx cdk8s synth'));
  }
  const summary = JSON.parse(warm.json[0].stdout);
  if (summary.summary.objects !== N) throw new Error(`kgitops rendered ${summary.summary.objects} objects, expected ${N}`);
  if (summary.summary.warnings !== c.expectWarnings) throw new Error(`kgitops reported ${summary.summary.warnings} warnings, expected ${c.expectWarnings}`);
  const phases = warm.json.map((r) => ({ ...JSON.parse(r.stdout).timings, wall: r.ms }));
  const p = (k: string) => median(phases.map((x) => x[k]));
  const rest = median(phases.map((x) => x.wall - x.appMs - x.validateMs - x.policyMs));
  const printedLines = warm.kgitops[0].stderr.split('\n').length;
  const w = { kgitops: median(warm.kgitops.map((r) => r.ms)), tsx: median(warm.tsx.map((r) => r.ms)), cdk8s: median(warm.cdk8s.map((r) => r.ms)) };
  const cpu = { kgitops: median(warm.kgitops.map((r) => r.cpuMs)), tsx: median(warm.tsx.map((r) => r.cpuMs)), cdk8s: median(warm.cdk8s.map((r) => r.cpuMs)) };
  return [
    `${c.name}: ${N} CloneSets, ${c.expectWarnings} warnings; kgitops printed ${printedLines} lines on stderr`,
    `  cold  kgitops synth --no-write ${sec(cold.kgitops.ms)}   npx tsx main.ts ${sec(cold.tsx.ms)}   npx cdk8s synth ${sec(cold.cdk8s.ms)}   ratio ${(cold.kgitops.ms / cold.tsx.ms).toFixed(2)}x / ${(cold.kgitops.ms / cold.cdk8s.ms).toFixed(2)}x`,
    `  warm  kgitops synth --no-write ${sec(w.kgitops)}   npx tsx main.ts ${sec(w.tsx)}   npx cdk8s synth ${sec(w.cdk8s)}   ratio ${(w.kgitops / w.tsx).toFixed(2)}x / ${(w.kgitops / w.cdk8s).toFixed(2)}x  (medians of ${WARM_RUNS})`,
    // GNU time does not count the sandboxed app (kgitops's figure came out below the app's own
    // CPU): kgitops's CPU is taken as its own plus the same app's run outside the sandbox.
    `  warm CPU (user + system): kgitops ${sec(cpu.kgitops + appAlone.cpuMs)} (itself ${sec(cpu.kgitops)} + the app, run unsandboxed, ${sec(appAlone.cpuMs)})   npx tsx main.ts ${sec(cpu.tsx)}   npx cdk8s synth ${sec(cpu.cdk8s)}   ratio ${((cpu.kgitops + appAlone.cpuMs) / cpu.tsx).toFixed(2)}x / ${((cpu.kgitops + appAlone.cpuMs) / cpu.cdk8s).toFixed(2)}x`,
    `  warm phases (-o json): app ${sec(p('appMs'))}, validation ${sec(p('validateMs'))}, policies ${sec(p('policyMs'))}, start-up + printing + exit ${sec(rest)}; text output vs -o json ${sec(w.kgitops - median(warm.json.map((r) => r.ms)))}`,
  ];
}

try {
  const lines = [`kgitops synth vs raw cdk8s synth (node ${process.version}, sandbox on, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`];
  for (const c of [
    { name: 'clean', replicas: '3', expectWarnings: 0 },
    // 4..8 replicas and no budget: one disruption-budget warning per CloneSet.
    { name: 'one-warning-each', replicas: '4 + (i % 5)', expectWarnings: N },
  ]) {
    lines.push(...(await measureCase(c)));
    console.log(lines.join('\n'));
    lines.length = 0;
  }
} finally {
  rmSync(WORK, { recursive: true, force: true });
  for (const d of coldDirs) rmSync(d, { recursive: true, force: true });
}
