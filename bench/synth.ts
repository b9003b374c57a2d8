/**
 * Synth + validate throughput: N generated CloneSets (cdk8s-plus containers, probes, resources,
 * in-place strategy, priorities) constructed, rendered, validated (JSON Schema + Kruise rules)
 * and serialized to YAML, in-process.
 *
 *   npx tsx bench/synth.ts            # 1,000 and 10,000, each in a fresh process
 *   npx tsx bench/synth.ts 5000       # one size
 *
 * Prints wall time per phase and peak RSS. Bar (issue 2): 10,000 under 8 s on 2 cores.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { App, CloneSet, CloneSetUpdateStrategy, UpdatePriority } from '../dsl/index.js';
import { toYaml } from '../dsl/output.js';
import { validateObjects } from '../engine/validate/index.js';

function measure(n: number): Record<string, number> {
  let peak = 0;
  const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
  const timer = setInterval(sample, 20);
  const t0 = performance.now();
  const app = new App();
  const charts = Array.from({ length: Math.ceil(n / 1000) }, (_, i) => new Chart(app, `team-${i}`, { namespace: `team-${i}` }));
  for (let i = 0; i < n; i++) {
    new CloneSet(charts[Math.floor(i / 1000)], `svc-${i}`, {
      metadata: { name: `svc-${i}` },
      replicas: 3 + (i % 5),
      podMetadata: { labels: { app: `svc-${i}` } },
      updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({
        maxSurge: '20%', partition: '50%',
        priority: UpdatePriority.weight({ weight: 100, selector: { matchLabels: { canary: 'true' } } }),
      }),
      minReady: Duration.seconds(5),
      containers: [{
        name: 'main', image: `registry.example.com/svc-${i}:1.${i % 7}.0`, portNumber: 8080,
        readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
        envVariables: { MODE: kplus.EnvValue.fromValue('production') },
      }],
    });
  }
  const t1 = performance.now();
  const { objects, diagnostics } = app.render({ rules: false });
  const t2 = performance.now();
  const problems = [...diagnostics, ...validateObjects(objects)];
  const t3 = performance.now();
  const yaml = toYaml(objects.map((o) => o.manifest));
  const t4 = performance.now();
  sample();
  clearInterval(timer);
  if (problems.some((d) => d.severity === 'error')) throw new Error(`bench objects invalid: ${JSON.stringify(problems[0])}`);
  return {
    n, objects: objects.length, constructMs: t1 - t0, renderMs: t2 - t1, validateMs: t3 - t2, yamlMs: t4 - t3,
    totalMs: t4 - t0, synthValidateMs: t3 - t0, yamlMB: yaml.length / 1e6, peakRssMB: peak / 1e6,
  };
}

const arg = process.argv[2];
if (arg) {
  process.stdout.write(`${JSON.stringify(measure(Number(arg)))}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  console.log('n       construct  render  validate  yaml   synth+validate  total    peak RSS');
  for (const n of [1000, 10000]) {
    const r = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', self, String(n)], { encoding: 'utf8' }));
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`.padStart(8);
    console.log(`${String(n).padEnd(7)} ${s(r.constructMs)} ${s(r.renderMs)} ${s(r.validateMs)} ${s(r.yamlMs)} ${s(r.synthValidateMs)}       ${s(r.totalMs)} ${r.peakRssMB.toFixed(0).padStart(6)} MB`);
  }
}
