/**
 * `kgitops validate` against kubeconform on the same files, in the same run, as users run them
 * (each a process of its own: wall time and peak RSS from /usr/bin/time): kgitops as installed
 * from npm (dist/, built first), also with an empty validator cache and from a checkout (tsx). The files are
 * multi-document YAML of Kruise and core workloads (CloneSets, Advanced StatefulSets,
 * Deployments, Services, ConfigMaps), with a few objects broken on purpose (a string for an
 * integer, a misspelt field) that both tools must find. kubeconform gets the same schemas
 * (kgitops's, cut into one self-contained file per kind) and -strict, so that both reject unknown
 * fields; kgitops also runs Kruise's webhook rules and the built-in policies, which kubeconform lacks.
 *
 *   npm run bench:validate [-- --objects 10000,50000 --files 100]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : d;
};
const SIZES = arg('objects', '10000,50000').split(',').map(Number);
const FILES = Number(arg('files', '100'));
/** --keep: leave the generated files (to time other runs on them). */
const KEEP = process.argv.includes('--keep');
const say = (m: string) => process.stderr.write(`${m}\n`);

/** One object per index, cycling through five kinds; every 997th and 1009th is broken. */
function object(i: number): Record<string, unknown> {
  const name = `app-${i}`;
  const labels = { 'app.kubernetes.io/name': name, team: `team-${i % 17}` };
  const container: Record<string, unknown> = {
    name: 'main', image: `registry.example.com/shop/${name}:1.${i % 50}.0`,
    ports: [{ containerPort: 8080, name: 'http' }],
    env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 },
    securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
  };
  if (i % 1009 === 5) container.imagePullPolicyy = 'Always';
  const template = { metadata: { labels }, spec: { containers: [container], ...(i % 5 === 1 ? { readinessGates: [{ conditionType: 'InPlaceUpdateReady' }] } : {}) } };
  const replicas: unknown = i % 997 === 3 ? 'three' : 3;
  const metadata = { name, namespace: `ns-${i % 23}`, labels };
  switch (i % 5) {
    case 0: return { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata, spec: { replicas, selector: { matchLabels: labels }, template, updateStrategy: { type: 'InPlaceIfPossible', maxUnavailable: '20%' } } };
    case 1: return { apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', metadata, spec: { replicas, serviceName: name, selector: { matchLabels: labels }, template, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { podUpdatePolicy: 'InPlaceIfPossible', maxUnavailable: 1 } } } };
    case 2: return { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: { replicas, selector: { matchLabels: labels }, template } };
    case 3: return { apiVersion: 'v1', kind: 'Service', metadata, spec: { selector: labels, ports: [{ port: 80, targetPort: 'http', name: 'http' }] } };
    default: return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { 'config.yaml': `name: ${name}\nreplicas: 3\n` } };
  }
}
const broken = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => (i % 997 === 3 && i % 5 !== 3 && i % 5 !== 4) || (i % 1009 === 5 && i % 5 < 3)).length;

/** kgitops's schemas as kubeconform reads them: one self-contained file per kind, at <group>/<kind>_<version>.json. */
function kubeconformSchemas(dir: string): void {
  const files: Record<string, { definitions: Record<string, unknown> }> = {};
  for (const f of ['kubernetes-v1.32.0.json', 'kruise-v1.9.0.json']) files[f] = JSON.parse(readFileSync(join(ROOT, 'schemas', f), 'utf8'));
  const index = JSON.parse(readFileSync(join(ROOT, 'schemas/index.json'), 'utf8')) as { kinds: { apiVersion: string; kind: string; ref: string }[] };
  const wanted = new Set(['apps.kruise.io/v1alpha1/CloneSet', 'apps.kruise.io/v1beta1/StatefulSet', 'apps/v1/Deployment', 'v1/Service', 'v1/ConfigMap']);
  for (const k of index.kinds) {
    if (!wanted.has(`${k.apiVersion}/${k.kind}`)) continue;
    const defs: Record<string, unknown> = {};
    const visit = (file: string, name: string) => {
      if (name in defs) return;
      const def = files[file]!.definitions[name];
      defs[name] = null;
      const text = JSON.stringify(def).replace(/"\$ref":"([^"#]*)#\/definitions\/([^"]+)"/g, (_, f: string, n: string) => {
        visit(f || file, n);
        return `"$ref":"#/definitions/${n}"`;
      });
      defs[name] = JSON.parse(text);
    };
    const [file, pointer] = k.ref.split('#');
    const root = pointer!.replace('/definitions/', '');
    visit(file!, root);
    const group = k.apiVersion.includes('/') ? k.apiVersion.split('/')[0]! : 'core';
    const version = k.apiVersion.split('/').at(-1)!;
    mkdirSync(join(dir, group), { recursive: true });
    writeFileSync(join(dir, group, `${k.kind.toLowerCase()}_${version}.json`), JSON.stringify({ $ref: `#/definitions/${root}`, definitions: defs }));
  }
}

function timed(cmd: string, args: string[], env: Record<string, string> = {}): { wallS: number; rssMiB: number; stdout: string; code: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30, cwd: ROOT, env: { ...process.env, ...env } });
  const last = r.stderr.trim().split('\n').at(-1)!.split(' ');
  return { wallS: Number(last[0]), rssMiB: Math.round(Number(last[1]) / 1024), stdout: r.stdout, code: r.status ?? -1 };
}

/** The CLI as `npm install kruise-gitops` runs it: the compiled JavaScript (built here, into dist/). */
const INSTALLED = join(ROOT, 'dist/engine/cli/main.js');

function main(): void {
  say('building dist/ (npm run build) ...');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const kubeconform = execFileSync('bash', [join(ROOT, 'bench/kubeconform.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const work = mkdtempSync(join(tmpdir(), 'kgitops-bench-validate-'));
  const lines: string[] = [`kgitops validate vs kubeconform v0.8.0 (-strict, same schemas), ${FILES} files, 2 cores; wall time and peak RSS per run:`];
  try {
    kubeconformSchemas(join(work, 'schemas'));
    for (const n of SIZES) {
      const dir = join(work, `m${n}`);
      mkdirSync(dir);
      const per = Math.ceil(n / FILES);
      for (let f = 0; f < FILES; f++) {
        const docs: string[] = [];
        for (let i = f * per; i < Math.min(n, (f + 1) * per); i++) docs.push(stringify(object(i)));
        writeFileSync(join(dir, `part-${String(f).padStart(4, '0')}.yaml`), `# generated by bench/validate.ts\n${docs.join('---\n')}`);
      }
      const expected = broken(n);
      say(`${n} objects written (${expected} broken); running kgitops validate ...`);
      // As installed from npm (the compiled dist/), first with an empty validator cache, then as every later run.
      const cold = timed(process.execPath, [INSTALLED, 'validate', dir, '-o', 'json'], { XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'kgitops-bench-cache-')) });
      const kg = timed(process.execPath, [INSTALLED, 'validate', dir, '-o', 'json']);
      const kgOut = JSON.parse(kg.stdout) as { summary: { objects: number; errors: number }; diagnostics: { severity: string; source?: string; rule: string }[] };
      const kgInvalid = new Set(kgOut.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.source?.split(':')[0]}|${d.rule}`)).size;
      const kgBare = timed(process.execPath, [INSTALLED, 'validate', dir, '--no-policies', '-o', 'json']);
      // From a checkout of kruise-gitops: the TypeScript sources through tsx.
      const checkout = timed(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'validate', dir, '-o', 'json']);
      say('running kubeconform ...');
      const kc = timed(kubeconform, ['-strict', '-summary', '-output', 'json', '-n', '2',
        // Tried in order: a group's kinds, then the core ones.
        '-schema-location', `${join(work, 'schemas')}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`,
        '-schema-location', `${join(work, 'schemas')}/core/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`, dir]);
      const kcOut = JSON.parse(kc.stdout) as { resources?: { status: string }[]; summary: { valid: number; invalid: number; errors: number; skipped: number } };
      lines.push(
        `  ${n} objects: kgitops ${kg.wallS.toFixed(2)} s, ${kg.rssMiB} MiB (installed; schemas, Kruise rules, policies; ${kgOut.summary.errors} errors in ${kgInvalid} file/rule pairs, ${expected} objects broken)`,
        `  ${' '.repeat(String(n).length)}          kgitops --no-policies ${kgBare.wallS.toFixed(2)} s, ${kgBare.rssMiB} MiB`,
        `  ${' '.repeat(String(n).length)}          kgitops first run (empty validator cache) ${cold.wallS.toFixed(2)} s; from a checkout (tsx) ${checkout.wallS.toFixed(2)} s`,
        `  ${' '.repeat(String(n).length)}          kubeconform ${kc.wallS.toFixed(2)} s, ${kc.rssMiB} MiB (valid ${kcOut.summary.valid}, invalid ${kcOut.summary.invalid}, errors ${kcOut.summary.errors}, skipped ${kcOut.summary.skipped})`,
        `  ${' '.repeat(String(n).length)}          speed-up ${(kc.wallS / kg.wallS).toFixed(2)}x (with policies), ${(kc.wallS / kgBare.wallS).toFixed(2)}x (without)`,
      );
      if (!KEEP) rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    if (KEEP) say(`kept the files in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main();
