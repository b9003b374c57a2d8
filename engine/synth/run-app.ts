/**
 * Runs a repo's cdk8s app (the `app` command of its cdk8s.yaml) in a child process and collects
 * the rendered objects. The child gets a minimal environment (no cluster credentials, no
 * tokens), a timeout and a heap cap; kruise-gitops Apps hand back objects with construct paths
 * through a JSON file, plain cdk8s Apps through the YAML they write.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import type { RenderedObject, SynthProtocolOutput } from '../../dsl/app.js';
import { type SpawnResult, tsxEntry, type WarmSynthPool } from './warm.js';

export interface Cdk8sConfig {
  /** The command that runs the app, e.g. `npx tsx main.ts`. */
  readonly app: string;
  /** Output directory of `cdk8s synth`, relative to the app directory. @default dist */
  readonly output: string;
}

export interface RunAppOptions {
  /** Kill the app after this long. @default 120 s */
  readonly timeoutMs?: number;
  /** V8 heap cap of the app, in MiB. @default 2048 */
  readonly maxHeapMiB?: number;
  /** Extra environment for the app (after the allow-list). */
  readonly env?: Record<string, string>;
  /**
   * Pre-started workers for `npx tsx <file>` apps that use the engine's packages (the sync
   * engine passes one; a one-off `kgitops synth` runs the command as written).
   */
  readonly warm?: WarmSynthPool;
}

export interface AppRun {
  readonly objects: RenderedObject[];
  /** Diagnostics from the app itself: construct validations, render errors, a crash. */
  readonly diagnostics: Diagnostic[];
  /** Whether the app used the kruise-gitops App (objects carry construct paths). */
  readonly protocol: boolean;
  readonly durationMs: number;
}

/** Reads `cdk8s.yaml` of an app directory. */
export function readCdk8sConfig(dir: string): Cdk8sConfig {
  const file = join(dir, 'cdk8s.yaml');
  if (!existsSync(file)) {
    throw new UsageError(`${file} not found: kgitops synth runs the cdk8s app named there`,
      'create cdk8s.yaml with `app: npx tsx main.ts`, or pass the directory that has it');
  }
  let doc: any;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: invalid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc.app !== 'string' || !doc.app.trim()) {
    throw new UsageError(`${file}: missing "app:" (the command that runs your cdk8s app)`, 'for example `app: npx tsx main.ts`');
  }
  return { app: doc.app, output: typeof doc.output === 'string' ? doc.output : 'dist' };
}

/** A problem with how kgitops was called or configured (exit code 2). */
export class UsageError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Variables the app may see. Everything else (KUBECONFIG, tokens, cloud credentials) is withheld. */
const ENV_ALLOW = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'TERM', 'NODE_PATH',
  'npm_config_cache', 'npm_config_registry', 'NPM_CONFIG_CACHE', 'NPM_CONFIG_REGISTRY', 'npm_config_userconfig'];

export function appEnvironment(extra: Record<string, string> = {}, source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ENV_ALLOW) if (source[k] !== undefined) env[k] = source[k]!;
  return { ...env, ...extra };
}

export async function runApp(dir: string, options: RunAppOptions = {}): Promise<AppRun> {
  const started = performance.now();
  const appDir = resolve(dir);
  const config = readCdk8sConfig(appDir);
  const work = mkdtempSync(join(tmpdir(), 'kgitops-synth-'));
  const protocolFile = join(work, 'synth.json');
  const outdir = join(work, 'dist');
  try {
    const job = { ...options.env, KGITOPS_SYNTH_OUTPUT: protocolFile, CDK8S_OUTDIR: outdir, FORCE_COLOR: '0' };
    const env = appEnvironment({ ...job, NODE_OPTIONS: `--max-old-space-size=${options.maxHeapMiB ?? 2048}` });
    const entry = tsxEntry(config.app);
    const result = options.warm && entry
      ? await options.warm.run(appDir, entry, job, options.timeoutMs ?? 120_000)
      : await spawnWithTimeout(config.app, appDir, env, options.timeoutMs ?? 120_000);
    const elapsed = () => Math.round(performance.now() - started);
    if (result.timedOut) {
      return failed(`the app did not finish within ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s and was stopped`,
        'look for an endless loop or a network call in the app; synth must be pure', elapsed());
    }
    if (result.code !== 0) {
      return withUserPaths(appDir, failed(`the app (${config.app}) exited with code ${result.code}`, undefined, elapsed(), result.stderr));
    }
    if (existsSync(protocolFile)) {
      const out = JSON.parse(readFileSync(protocolFile, 'utf8')) as SynthProtocolOutput;
      return withUserPaths(appDir, { objects: out.objects, diagnostics: out.diagnostics, protocol: true, durationMs: elapsed() });
    }
    return { ...readYamlOutput(outdir), protocol: false, durationMs: elapsed() };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function failed(message: string, hint: string | undefined, durationMs: number, stderr = ''): AppRun {
  const located = locateError(stderr);
  // When the error is located, its message and line say it all; otherwise show the app's output.
  const output = located.message && located.source ? undefined : stderr.trim() ? `output of the app:\n${indent(tail(stderr, 40))}` : undefined;
  return {
    objects: [],
    diagnostics: [{
      severity: 'error', rule: 'synth/app-failed',
      message: located.message ? `${message}: ${located.message}` : message,
      ...(located.source ? { source: located.source } : {}),
      ...(hint ?? output ? { hint: hint ?? output } : {}),
    }],
    protocol: false,
    durationMs,
  };
}

/** Source locations come from the app's directory; show them relative to where kgitops runs. */
function withUserPaths(appDir: string, run: AppRun): AppRun {
  const fix = (s: string | undefined) => (s ? relative(process.cwd(), resolve(appDir, s)) || s : s);
  return {
    ...run,
    objects: run.objects.map((o) => (o.source ? { ...o, source: fix(o.source) } : o)),
    diagnostics: run.diagnostics.map((d) => (d.source ? { ...d, source: fix(d.source) } : d)),
  };
}

/**
 * Finds the user's error in the app's stderr: an esbuild/TypeScript error (`file.ts:3:7: ERROR: …`),
 * or the first stack frame outside node_modules of a thrown error.
 */
export function locateError(stderr: string): { message?: string; source?: string } {
  const esbuild = /^(?:✘ \[ERROR\] |Error: Transform failed with \d+ errors?:\n)?(\S+\.[cm]?tsx?):(\d+):(\d+): ERROR: (.+)$/m.exec(stderr);
  if (esbuild) return { source: `${esbuild[1]}:${esbuild[2]}:${esbuild[3]}`, message: esbuild[4] };
  const thrown = /^(?:\w*Error|DiagnosticError): (.+)$/m.exec(stderr);
  const frame = stderr.split('\n').map((l) => /\(?((?:file:\/\/)?\/[^\s():]+):(\d+):(\d+)\)?$/.exec(l.trim()))
    .find((m) => m && !m[1].includes('/node_modules/') && !m[1].startsWith('node:'));
  return { message: thrown?.[1], source: frame ? `${frame[1].replace(/^file:\/\//, '')}:${frame[2]}:${frame[3]}` : undefined };
}

function readYamlOutput(outdir: string): { objects: RenderedObject[]; diagnostics: Diagnostic[] } {
  const objects: RenderedObject[] = [];
  const diagnostics: Diagnostic[] = [{
    severity: 'warning', rule: 'synth/plain-cdk8s-app',
    message: 'the app uses cdk8s\'s App, not kruise-gitops\'s: construct paths and Kruise rule checks at construct level are unavailable',
    hint: "import { App } from 'kruise-gitops' instead of from 'cdk8s'",
  }];
  if (!existsSync(outdir)) return { objects, diagnostics };
  for (const f of readdirSync(outdir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
    const chart = f.replace(/\.k8s\.ya?ml$|\.ya?ml$/, '');
    for (const doc of parseAllDocuments(readFileSync(join(outdir, f), 'utf8'))) {
      const manifest = doc.toJS();
      if (manifest) objects.push({ manifest, chart, constructPath: `${chart}/${manifest.kind}/${manifest.metadata?.name ?? '?'}` });
    }
  }
  return { objects, diagnostics };
}

function spawnWithTimeout(command: string, cwd: string, env: Record<string, string>, timeoutMs: number): Promise<SpawnResult> {
  return new Promise((resolvePromise, reject) => {
    // A process group of its own, so a timeout kills npx and the node process under it.
    const child = spawn('sh', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', () => {});
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 256_000) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolvePromise({ code, stderr, timedOut }); });
  });
}

function tail(s: string, lines: number): string {
  return s.trimEnd().split('\n').slice(-lines).join('\n');
}

function indent(s: string): string {
  return s.split('\n').map((l) => `    ${l}`).join('\n');
}
