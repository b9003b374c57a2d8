/**
 * Runs a repo's cdk8s app (the `app` command of its cdk8s.yaml) in the sandbox and collects the
 * rendered objects. The app sees its checkout read-only, its node_modules and the engine's own
 * packages, and a private /tmp; it hands its objects back through a pipe (fd 3: kruise-gitops
 * Apps write the JSON protocol there; plain cdk8s Apps write YAML into /tmp, which a wrapper
 * streams out on fd 4), capped at the sandbox's output limit.
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import type { RenderedObject, SynthProtocolOutput } from '../../dsl/app.js';
import {
  baseLimits, type Bind, formatSize, heapMiB, launcherMessage, Sandbox, type SandboxExit, type SandboxLimits, withLimits,
} from '../sandbox/index.js';
import { cpuSeconds } from '../sandbox/bwrap.js';
import { assertNoOutsideSymlinks, confinedPath, findRepoRoot, RepoPathError } from '../source/confine.js';
import { CappedOutput } from './capture.js';
import { CHILD_NODE_FLAGS, engineBinds, tsxEntry } from './runtime.js';
import { engineRuntime } from './dependencies.js';
import { defaultCacheDir, transformCacheBinds } from './transform-cache.js';
import type { WarmSynthPool } from './warm.js';

export interface Cdk8sConfig {
  /** The command that runs the app, e.g. `npx tsx main.ts`. */
  readonly app: string;
  /** Output directory of `cdk8s synth`, relative to the app directory. @default dist */
  readonly output: string;
}

export interface RunAppOptions {
  /** Kill the app after this long. @default 120 s */
  readonly timeoutMs?: number;
  /** Limits of the sandbox (memory, processes, output size, ...); see engine/sandbox/limits.ts. */
  readonly limits?: Partial<SandboxLimits>;
  /** Extra environment for the app. */
  readonly env?: Record<string, string>;
  /**
   * Pre-started workers for `npx tsx <file>` apps that use the engine's packages (the sync
   * engine passes one; a one-off `kgitops synth` runs the command as written).
   */
  readonly warm?: WarmSynthPool;
  /** Where repo code runs. @default Sandbox.default() (bubblewrap; refused when unavailable) */
  readonly sandbox?: Sandbox;
  /** The checkout the app belongs to: all the app may see. @default the git work tree around the app, or the app directory */
  readonly root?: string;
}

export interface AppRun {
  readonly objects: RenderedObject[];
  /** Diagnostics from the app itself: construct validations, render errors, a crash. */
  readonly diagnostics: Diagnostic[];
  /** Whether the app used the kruise-gitops App (objects carry construct paths). */
  readonly protocol: boolean;
  readonly durationMs: number;
}

/**
 * Reads `cdk8s.yaml` of an app directory. `root` is the checkout the app belongs to: a
 * cdk8s.yaml that is a symlink leading out of it is refused without being read.
 */
export function readCdk8sConfig(dir: string, root: string = checkoutRoot(dir)): Cdk8sConfig {
  const file = join(dir, 'cdk8s.yaml');
  if (!existsSync(dir) && !isLink(dir)) {
    throw new UsageError(`${dir}: no such directory`, 'pass the directory of your cdk8s app (the one with cdk8s.yaml), e.g. kgitops synth examples');
  }
  // First, so that a symlinked directory or cdk8s.yaml that leads out is refused, not followed.
  confinedPath(root, relative(root, file), 'file');
  if (!existsSync(file) && !isLink(file)) {
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

function isLink(file: string): boolean {
  try { return lstatSync(file).isSymbolicLink(); } catch { return false; }
}

/** The checkout an app directory belongs to: its git work tree, or the directory itself. */
export function checkoutRoot(dir: string): string {
  return findRepoRoot(dir) ?? resolve(dir);
}

/** A problem with how kgitops was called or configured (exit code 2). */
export class UsageError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Variables the engine's own helpers that read repo input (npm ci of a lockfile) may see.
 * Everything else (KUBECONFIG, tokens, cloud credentials) is withheld. Repo code itself runs in
 * the sandbox, which starts from an empty environment.
 */
const ENV_ALLOW = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'TERM', 'NODE_PATH',
  'npm_config_cache', 'npm_config_registry', 'NPM_CONFIG_CACHE', 'NPM_CONFIG_REGISTRY', 'npm_config_userconfig'];

export function appEnvironment(extra: Record<string, string> = {}, source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ENV_ALLOW) if (source[k] !== undefined) env[k] = source[k]!;
  return { ...env, ...extra };
}

/**
 * Read-only binds for an app in `appDir` of the checkout `root`: the checkout, the targets of
 * the node_modules links the engine made on the way up (its cached install or the engine's
 * runtime), and the engine's packages. An app with no node_modules at all from its directory up
 * to the checkout (no dependencies of its own, or not installed yet) gets the engine's packages
 * as /node_modules, the last place Node looks: so it runs wherever it lives, against one copy
 * of cdk8s shared with the DSL.
 */
export function appBinds(appDir: string, root: string): Bind[] {
  const binds: Bind[] = [{ source: root }, ...engineBinds()];
  let own = false;
  for (let d = appDir; ; d = dirname(d)) {
    const modules = join(d, 'node_modules');
    if (isLink(modules)) {
      own = true;
      try { binds.push({ source: realpathSync(modules) }); } catch { /* dangling: the app fails to resolve, and says so */ }
    } else if (existsSync(modules)) {
      own = true;
    }
    if (d === root || dirname(d) === d) break;
  }
  if (!own) binds.push({ source: engineRuntime(defaultCacheDir()), target: '/node_modules' });
  return binds;
}

/**
 * Runs the app ("$@") and then streams a plain cdk8s app's YAML out of the sandbox, where only
 * the app could read it: `<size> <name>\n<bytes>` per file, on fd 4.
 */
const YAML_COLLECTOR = `"$@"
status=$?
[ "$status" -eq 0 ] || exit "$status"
for f in "$CDK8S_OUTDIR"/*.yaml "$CDK8S_OUTDIR"/*.yml; do
  [ -f "$f" ] || continue
  printf '%s %s\n' "$(wc -c < "$f")" "\${f##*/}" >&4 && cat "$f" >&4 || exit 1
done`;

export async function runApp(dir: string, options: RunAppOptions = {}): Promise<AppRun> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const appDir = resolve(dir);
  const root = options.root ? resolve(options.root) : checkoutRoot(appDir);
  let config: Cdk8sConfig;
  try {
    confinedPath(root, relative(root, appDir), 'app path');
    config = readCdk8sConfig(appDir, root);
    assertNoOutsideSymlinks(root, appDir, ['node_modules', '.git', config.output]);
  } catch (e) {
    if (e instanceof RepoPathError) return pathFailure(e, appDir, root, elapsed());
    throw e;
  }
  const sandbox = options.sandbox ?? (await Sandbox.default());
  const limits = withLimits(baseLimits(), { ...options.limits, ...(options.timeoutMs ? { wallMs: options.timeoutMs } : {}) });
  const entry = tsxEntry(config.app);
  const heap = `--max-old-space-size=${heapMiB(limits)}`;
  const job = { ...options.env, FORCE_COLOR: '0' };

  let exit: SandboxExit;
  let stderr: string;
  let output: CappedOutput;
  let pathsFrom: string | undefined;
  if (options.warm && entry) {
    const r = await options.warm.run({ appDir, root, entry, env: job, limits });
    ({ exit, stderr, output } = r);
    pathsFrom = r.snapshotRoot;
  } else {
    // Without a sandbox the private /tmp is a directory of our own.
    const work = sandbox.isolated ? undefined : mkdtempSync(join(tmpdir(), 'kgitops-synth-'));
    const outdir = join(work ?? '/tmp', 'cdk8s.out');
    const env = { ...job, KGITOPS_SYNTH_OUTPUT: '/dev/fd/3', CDK8S_OUTDIR: outdir, NODE_OPTIONS: heap };
    const app = entry ? [process.execPath, heap, ...CHILD_NODE_FLAGS, join(appDir, entry)] : ['/bin/sh', '-c', config.app];
    const command = ['/bin/sh', '-c', YAML_COLLECTOR, 'kgitops-app', ...app];
    try {
      const binds = [...appBinds(appDir, root), ...(await transformCacheBinds(sandbox))];
      const p = sandbox.spawn({ command, cwd: appDir, env, binds, limits }, ['ignore', 'ignore', 'pipe', 'pipe', 'pipe']);
      output = new CappedOutput(limits.outputBytes, () => p.kill());
      stderr = '';
      p.child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 256_000) stderr += d.toString(); });
      const reading = Promise.all([output.read(p.child.stdio[3] as NodeJS.ReadableStream, 0), output.read(p.child.stdio[4] as NodeJS.ReadableStream, 1)]);
      exit = await p.exited;
      await reading;
    } finally {
      if (work) rmSync(work, { recursive: true, force: true });
    }
  }
  if (pathsFrom) stderr = stderr.split(pathsFrom).join(root);
  return interpret({ exit, stderr, output, config, appDir, limits, elapsed });
}

function interpret(r: { exit: SandboxExit; stderr: string; output: CappedOutput; config: Cdk8sConfig; appDir: string; limits: SandboxLimits; elapsed: () => number }): AppRun {
  const { exit, stderr, output, config, appDir, limits, elapsed } = r;
  if (exit.code !== 0 && /^bwrap: .*Permission denied/m.test(stderr)) {
    return failed(`the sandbox cannot read the app: ${launcherMessage(stderr)}`,
      'the sandbox runs as an unprivileged user (uid 65534 when kgitops runs as root): make the checkout readable by others (chmod -R o+rX), or run kgitops as a non-root user', elapsed());
  }
  if (exit.launchFailed) {
    return failed(`the sandbox could not be set up: ${launcherMessage(stderr) ?? 'see the output'}`, 'run `kgitops sandbox` to see what this machine supports', elapsed(), stderr);
  }
  if (output.exceeded) {
    return failed(`the app rendered more than ${formatSize(limits.outputBytes)} of output and was stopped; nothing from it is used`,
      'if the app really renders that much, raise the cap (sandbox.maxOutput in kgitops.yaml, --max-output); otherwise look for a loop that emits objects', elapsed());
  }
  if (exit.timedOut) {
    return failed(`the app did not finish within ${Math.round(limits.wallMs / 1000)} s and was stopped`,
      'look for an endless loop or a network call in the app; synth must be pure (the sandbox has no network)', elapsed());
  }
  if (exit.oomKilled) {
    return failed(`the app used more than ${formatSize(limits.memoryBytes)} of memory, the sandbox's limit, and was stopped`,
      'look for a runaway allocation; if the app needs more, raise sandbox.memory in kgitops.yaml (--max-memory)', elapsed(), stderr);
  }
  if (exit.code !== 0) {
    const memory = /Array buffer allocation failed|JavaScript heap out of memory|Cannot allocate memory/.test(stderr);
    const cpu = exit.signal === 'SIGXCPU' || exit.code === 128 + 24;
    const forks = exit.processLimitHit || /Resource temporarily unavailable|EAGAIN|Cannot fork/.test(stderr);
    const why = exit.signal ? `was killed by ${exit.signal}` : exit.code !== null && exit.code > 128 ? `was killed (signal ${exit.code - 128})` : `exited with code ${exit.code}`;
    const missing = /Cannot find (?:module|package) '([^']+)'/.exec(stderr)?.[1];
    const hint = missing && !missing.startsWith('.') && !missing.startsWith('/')
      ? `the app imports ${missing}, which is not installed where it runs: add it to the app's package.json and run npm install (an app with no node_modules at all runs against kgitops's own kruise-gitops, cdk8s, cdk8s-plus-33 and constructs)`
      : cpu ? `the app used more CPU time than the sandbox allows (${cpuSeconds(limits)} s per process)`
      : memory ? `the app hit the sandbox's memory limit (${formatSize(limits.memoryBytes)} per process and for the whole tree)`
      : forks ? `the app hit the sandbox's limit of ${limits.processes} processes and threads` : undefined;
    return withUserPaths(appDir, failed(`the app (${config.app}) ${why}`, hint, elapsed(), stderr));
  }
  const protocol = output.text(0);
  if (protocol.trim()) {
    let out: SynthProtocolOutput;
    try {
      out = JSON.parse(protocol) as SynthProtocolOutput;
      if (out?.protocol !== 'kgitops-synth/v1' || !Array.isArray(out.objects) || !Array.isArray(out.diagnostics)) throw new Error('not a kgitops-synth/v1 document');
    } catch (e) {
      return failed(`the app's output could not be read: ${(e as Error).message}`, 'the app must write only through the kruise-gitops App (app.synth())', elapsed());
    }
    return withUserPaths(appDir, { objects: out.objects, diagnostics: out.diagnostics, protocol: true, durationMs: elapsed() });
  }
  if (output.chunks[1].length === 0) {
    // An app that ends without rendering would read as "git now declares nothing".
    return failed(`the app (${config.app}) exited without rendering anything`, 'call app.synth() at the end of the app (an app that declares no objects still does)', elapsed(), stderr);
  }
  return { ...readYamlOutput(output.chunks[1]), protocol: false, durationMs: elapsed() };
}

function pathFailure(e: RepoPathError, appDir: string, root: string, durationMs: number): AppRun {
  const shown = relative(process.cwd(), join(root, e.file ?? relative(root, appDir))) || '.';
  return {
    objects: [], protocol: false, durationMs,
    diagnostics: [{ severity: 'error', rule: 'synth/path-outside-repo', message: e.message, hint: e.hint, source: shown }],
  };
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

/** kruise-gitops's own code: a construct's check that throws is the user's error, on the user's line. */
const LIBRARY_DIRS = ['dsl', 'engine'].map((d) => fileURLToPath(new URL(`../../${d}/`, import.meta.url)));

/**
 * Finds the user's error in the app's stderr: an esbuild/TypeScript error (`file.ts:3:7: ERROR: …`),
 * or the first stack frame outside node_modules and kruise-gitops of a thrown error.
 */
export function locateError(stderr: string): { message?: string; source?: string } {
  const esbuild = /^(?:✘ \[ERROR\] |Error: Transform failed with \d+ errors?:\n)?(\S+\.[cm]?tsx?):(\d+):(\d+): ERROR: (.+)$/m.exec(stderr);
  if (esbuild) return { source: `${esbuild[1]}:${esbuild[2]}:${esbuild[3]}`, message: esbuild[4] };
  const thrown = /^(?:\w*Error|DiagnosticError)(?: \[\w+\])?: (.+)$/m.exec(stderr);
  // A frame is `at fn (/abs/file:1:2)` or `at /abs/file:1:2`; `node:internal/...` frames never match.
  const frame = stderr.split('\n').map((l) => /(?:^at |\(|^)((?:file:\/\/)?\/[^\s():]+):(\d+):(\d+)\)?$/.exec(l.trim()))
    .find((m) => m && !m[1].includes('/node_modules/') && !m[1].startsWith('node:')
      && !LIBRARY_DIRS.some((dir) => m[1].replace(/^file:\/\//, '').startsWith(dir)));
  // A module that does not resolve: the importing file is named in the message, not in a frame.
  const importer = /(?:imported from |Require stack:\n- )((?:file:\/\/)?\/\S+)/.exec(stderr)?.[1];
  const source = frame ? `${frame[1].replace(/^file:\/\//, '')}:${frame[2]}:${frame[3]}` : importer?.replace(/^file:\/\//, '');
  return { message: thrown?.[1]?.replace(/ imported from \S+$/, ''), source };
}

/** Parses what the YAML collector streamed: `<size> <name>\n` and that many bytes, per file. */
function readYamlOutput(chunks: Buffer[]): { objects: RenderedObject[]; diagnostics: Diagnostic[] } {
  const objects: RenderedObject[] = [];
  const diagnostics: Diagnostic[] = [{
    severity: 'warning', rule: 'synth/plain-cdk8s-app',
    message: 'the app uses cdk8s\'s App, not kruise-gitops\'s: construct paths and Kruise rule checks at construct level are unavailable',
    hint: "import { App } from 'kruise-gitops' instead of from 'cdk8s'",
  }];
  const all = Buffer.concat(chunks);
  const files: { name: string; text: string }[] = [];
  for (let at = 0; at < all.length;) {
    const nl = all.indexOf(10, at);
    const m = nl > 0 ? /^(\d+) (.+)$/.exec(all.subarray(at, nl).toString('utf8')) : null;
    if (!m) break;
    const size = Number(m[1]);
    files.push({ name: m[2], text: all.subarray(nl + 1, nl + 1 + size).toString('utf8') });
    at = nl + 1 + size;
  }
  for (const f of files.sort((a, b) => a.name.localeCompare(b.name))) {
    const chart = f.name.replace(/\.k8s\.ya?ml$|\.ya?ml$/, '');
    for (const doc of parseAllDocuments(f.text)) {
      const manifest = doc.toJS();
      if (manifest) objects.push({ manifest, chart, constructPath: `${chart}/${manifest.kind}/${manifest.metadata?.name ?? '?'}` });
    }
  }
  return { objects, diagnostics };
}

function tail(s: string, lines: number): string {
  return s.trimEnd().split('\n').slice(-lines).join('\n');
}

function indent(s: string): string {
  return s.split('\n').map((l) => `    ${l}`).join('\n');
}
