/**
 * Type-checks a repo's cdk8s app before it runs, with the native TypeScript compiler the engine
 * ships (typescript 7). tsx strips types without checking them, so without this `replica: 4` or
 * `podMetdata` synthesizes cleanly; with it they fail with file:line:col, exit 1, and nothing is
 * written or applied.
 *
 * The compiler reads repo code, so it runs in the sandbox like the app: no network, the checkout
 * read-only, a private /tmp. It never uses a tsconfig of the repo: the engine generates one in
 * the sandbox's /tmp that names the app's entry (and its policy files) and extends nothing, so
 * no `extends`, `paths`, `typeRoots` or `include` of a commit can make the compiler read outside
 * the checkout or change how modules resolve. The repo's nearest tsconfig.json (app directory up
 * to the checkout root) only contributes how strict the check is: the options in STRICTNESS.
 * Without one, the check is `strict`. Modules resolve like tsx resolves them (bundler
 * resolution, `.ts` imports allowed), through the node_modules the app itself runs on.
 *
 * Not checked (documented in the README): apps whose command is not `npx tsx <file>.ts` (a
 * warning says so), plain JavaScript entries (nothing to check).
 *
 * Each result is cached (memory and disk) under the app's compiler options, the lockfile and the
 * engine's version; an entry lists the checkout's files the compiler read and their content
 * hashes, so an unchanged tree, in whatever checkout directory, is not checked again.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { baseLimits, type Sandbox, type SandboxLimits, withLimits } from '../sandbox/index.js';
import { assertNoOutsideSymlinks, confinedPath, RepoPathError } from '../source/confine.js';
import { policyFiles } from '../policy/host.js';
import { LOCKFILES } from './dependencies.js';
import { appBinds } from './run-app.js';
import { DEPENDENCIES_DIR, ENGINE_ROOT, engineFingerprint, SOURCE_CONDITIONS, tsxEntry } from './runtime.js';

export const TYPE_ERROR_RULE = 'synth/type-error';
const SKIPPED_RULE = 'synth/not-type-checked';
const SKIP_HINT = '--no-typecheck (or typecheck: false in kgitops.yaml) skips the type check';
/** More than this many type errors are summed up in one line. */
const MAX_REPORTED = 50;

/**
 * Compiler options a repo's tsconfig.json may set for the check: how strict it is, and which
 * library typings exist. Nothing that names a path, resolves modules or emits.
 */
const STRICTNESS = [
  'strict', 'noImplicitAny', 'strictNullChecks', 'strictFunctionTypes', 'strictBindCallApply', 'strictPropertyInitialization',
  'strictBuiltinIteratorReturn', 'noImplicitThis', 'useUnknownInCatchVariables', 'alwaysStrict', 'exactOptionalPropertyTypes',
  'noImplicitReturns', 'noFallthroughCasesInSwitch', 'noUncheckedIndexedAccess', 'noImplicitOverride',
  'noPropertyAccessFromIndexSignature', 'noUnusedLocals', 'noUnusedParameters', 'allowUnreachableCode', 'allowUnusedLabels',
  'experimentalDecorators', 'emitDecoratorMetadata', 'useDefineForClassFields', 'target', 'lib', 'types',
];

export interface TypecheckOptions {
  readonly sandbox: Sandbox;
  /** The checkout the app belongs to: all the compiler may see. */
  readonly root: string;
  /** The app's command (cdk8s.yaml `app:`). */
  readonly command: string;
  /** The app's output directory (cdk8s.yaml `output:`), which may be a link. @default dist */
  readonly output?: string;
  /** Also check the repo's policies/*.ts (they run too). @default true */
  readonly policies?: boolean;
  /** Where results are cached across runs; none: this process only. */
  readonly cacheDir?: string;
  readonly limits?: Partial<SandboxLimits>;
}

export interface TypecheckResult {
  /** Type errors (synth/type-error), or one warning that the app was not checked. */
  readonly diagnostics: Diagnostic[];
  readonly ok: boolean;
  /** Answered from the cache: the same files were checked before. */
  readonly cached: boolean;
  /** Nothing was checked (not a tsx app, or plain JavaScript). */
  readonly skipped: boolean;
  readonly durationMs: number;
}

/** A type error as cached: the file relative to the checkout (none: about the configuration). */
interface CachedError { readonly file?: string; readonly line?: number; readonly col?: number; readonly code: string; readonly message: string }

interface CacheEntry {
  /** Files of the checkout the compiler read, with their content hash. */
  readonly files: [string, string][];
  /** Directories holding them, with a hash of their listing: a new file could shadow an import. */
  readonly dirs: [string, string][];
  readonly errors: CachedError[];
  /** Errors beyond the ones kept. */
  readonly more: number;
}

/** Results per key (compiler options, lockfile, engine), newest first: a few trees each. */
const memory = new Map<string, CacheEntry[]>();
const ENTRIES_PER_KEY = 8;

/** The native compiler of this platform, from the engine's own node_modules. */
export function compilerPath(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve(`@typescript/typescript-${process.platform}-${process.arch}/package.json`);
    const exe = join(dirname(pkg), 'lib', 'tsc');
    return existsSync(exe) ? exe : undefined;
  } catch {
    return undefined;
  }
}

let engineKeyMemo: string | undefined;

/**
 * What of the engine a check's result depends on: its place and lockfile, the compiler, and,
 * from a source tree, the DSL's and policy API's files (size and mtime; they change in place).
 */
function engineKey(): string {
  if (engineKeyMemo) return engineKeyMemo;
  // The compiler's own package.json: its exact version, wherever npm put it.
  const compiler = compilerPath();
  const h = createHash('sha256').update(engineFingerprint()).update('\0').update(JSON.stringify(SOURCE_CONDITIONS)).update('\0')
    .update(compiler ? readFileSync(join(dirname(dirname(compiler)), 'package.json')) : 'no compiler');
  if (SOURCE_CONDITIONS.length) {
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.ts$/.test(e.name)) {
          const st = statSync(p);
          h.update(`${p}\0${st.size}\0${st.mtimeMs}\0`);
        }
      }
    };
    walk(join(ENGINE_ROOT, 'dsl'));
    walk(join(ENGINE_ROOT, 'engine', 'policy'));
  }
  engineKeyMemo = h.digest('hex');
  return engineKeyMemo;
}

/** JSON with comments and trailing commas (tsconfig.json), read without evaluating anything. */
export function parseJsonc(text: string): unknown {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
      out += ' ';
    } else {
      out += c;
    }
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
}

interface RepoTsconfig {
  /** The file, relative to the checkout. */
  readonly file?: string;
  readonly options: Record<string, unknown>;
  /** Why it could not be read (not JSON, a link out of the checkout): an error, as tsc would fail on it too. */
  readonly problem?: string;
}

/** The strictness options of the nearest tsconfig.json, from the app directory up to the checkout root. */
export function repoCompilerOptions(appDir: string, root: string): RepoTsconfig {
  for (let d = appDir; ; d = dirname(d)) {
    const file = join(d, 'tsconfig.json');
    if (existsSync(file)) {
      const rel = relative(root, file);
      try {
        confinedPath(root, rel, 'file');
        const doc = parseJsonc(readFileSync(file, 'utf8')) as { compilerOptions?: Record<string, unknown> } | null;
        const given = doc && typeof doc.compilerOptions === 'object' && doc.compilerOptions ? doc.compilerOptions : {};
        const options: Record<string, unknown> = {};
        for (const k of STRICTNESS) {
          const v = given[k];
          if (v === undefined) continue;
          if (k === 'types') {
            // Names of @types packages, looked up in the app's node_modules; never a path.
            if (Array.isArray(v) && v.every((t) => typeof t === 'string' && !/^[./]|\.\./.test(t))) options.types = v;
          } else if (k === 'lib') {
            if (Array.isArray(v) && v.every((t) => typeof t === 'string' && /^[\w.-]+$/.test(t))) options.lib = v;
          } else if (typeof v === 'boolean' || (k === 'target' && typeof v === 'string' && /^\w+$/.test(v))) {
            options[k] = v;
          }
        }
        return { file: rel, options };
      } catch (e) {
        if (e instanceof RepoPathError) return { file: rel, options: {}, problem: e.message };
        return { file: rel, options: {}, problem: `${rel} is not valid JSON: ${(e as Error).message}` };
      }
    }
    if (d === root || dirname(d) === d) return { options: {} };
  }
}

/** `node_modules/@types` directories the app sees, nearest first, inside the checkout. */
function typeRootsOf(appDir: string, root: string): string[] {
  const roots: string[] = [];
  for (let d = appDir; ; d = dirname(d)) {
    const types = join(d, 'node_modules', '@types');
    if (existsSync(types)) roots.push(types);
    if (d === root || dirname(d) === d) break;
  }
  return roots;
}

/** The generated tsconfig.json (absolute paths), and the same with paths relative to the checkout (the cache key). */
export function generatedTsconfig(appDir: string, root: string, files: readonly string[]): { config: object; key: object; repo: RepoTsconfig } {
  const repo = repoCompilerOptions(appDir, root);
  const typeRoots = typeRootsOf(appDir, root);
  let types = repo.options.types as string[] | undefined;
  if (!types) {
    // Node's typings as an app on Node sees them: the app's own @types/node, else the engine's.
    // (The published package has no @types/node of its own: without one anywhere, none.)
    const engineTypes = join(DEPENDENCIES_DIR, '@types');
    if (!typeRoots.some((r) => existsSync(join(r, 'node'))) && existsSync(join(engineTypes, 'node'))) typeRoots.push(engineTypes);
    types = typeRoots.some((r) => existsSync(join(r, 'node'))) ? ['node'] : [];
  }
  const compilerOptions = {
    target: 'es2022', lib: ['es2023'], strict: true,
    ...repo.options,
    types, typeRoots,
    // How tsx runs the app: imports resolve like a bundler's (`./x.js` and `./x.ts` find x.ts),
    // package exports with the engine's conditions; nothing is emitted.
    module: 'preserve', moduleResolution: 'bundler', customConditions: SOURCE_CONDITIONS,
    allowImportingTsExtensions: true, resolveJsonModule: true, esModuleInterop: true, allowJs: false,
    noEmit: true, skipLibCheck: true, pretty: false, noErrorTruncation: true,
  };
  const config = { compilerOptions, files: [...files] };
  const rel = (p: string) => (p.startsWith(`${root}${sep}`) ? relative(root, p) : p);
  const key = { compilerOptions: { ...compilerOptions, typeRoots: typeRoots.map(rel) }, files: files.map(rel) };
  return { config, key, repo };
}

function sha(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 32);
}

function listing(dir: string): string {
  try { return sha(readdirSync(dir).sort().join('\0')); } catch { return 'absent'; }
}

function fileHash(file: string): string {
  try { return sha(readFileSync(file)); } catch { return 'absent'; }
}

/** The lockfile and package.json the app's node_modules come from (types of its packages). */
function dependencyKey(appDir: string, root: string): string {
  const h = createHash('sha256');
  for (let d = appDir; ; d = dirname(d)) {
    for (const f of ['package.json', ...LOCKFILES]) if (existsSync(join(d, f))) h.update(`${relative(root, join(d, f))}\0`).update(fileHash(join(d, f)));
    if (d === root || dirname(d) === d) break;
  }
  return h.digest('hex');
}

function cacheFile(cacheDir: string, key: string): string {
  return join(cacheDir, 'typecheck', `${key}.json`);
}

function entriesOf(key: string, cacheDir: string | undefined): CacheEntry[] {
  let entries = memory.get(key);
  if (!entries && cacheDir) {
    try {
      const read: unknown = JSON.parse(readFileSync(cacheFile(cacheDir, key), 'utf8'));
      if (Array.isArray(read)) entries = read as CacheEntry[];
    } catch { /* not cached */ }
  }
  return entries ?? [];
}

/** The cached result of this tree: every file the compiler read then is as it was, and no directory of theirs gained or lost a file. */
function lookup(key: string, root: string, cacheDir: string | undefined): CacheEntry | undefined {
  const entries = entriesOf(key, cacheDir);
  memory.set(key, entries);
  return entries.find((e) => e.files.every(([f, h]) => fileHash(join(root, f)) === h) && e.dirs.every(([d, h]) => listing(join(root, d)) === h));
}

function store(key: string, entry: CacheEntry, cacheDir: string | undefined): void {
  const same = (a: CacheEntry) => JSON.stringify(a.files) === JSON.stringify(entry.files) && JSON.stringify(a.dirs) === JSON.stringify(entry.dirs);
  const entries = [entry, ...entriesOf(key, cacheDir).filter((e) => !same(e))].slice(0, ENTRIES_PER_KEY);
  memory.delete(key);
  memory.set(key, entries);
  if (memory.size > 64) memory.delete(memory.keys().next().value!);
  if (!cacheDir) return;
  try {
    const file = cacheFile(cacheDir, key);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp-${process.pid}`, JSON.stringify(entries));
    renameSync(`${file}.tmp-${process.pid}`, file);
  } catch { /* the cache is an optimization */ }
}

/** Writes the generated tsconfig into the sandbox's private /tmp, then runs the compiler on it. */
const RUN_COMPILER = `printf '%s' "$KGITOPS_TSCONFIG" > /tmp/kgitops-tsconfig.json || exit 125
exec "$1" -p /tmp/kgitops-tsconfig.json --listFiles`;

interface CompilerRun { readonly code: number | null; readonly stdout: string; readonly stderr: string; readonly timedOut: boolean; readonly oomKilled: boolean }

async function runCompiler(exe: string, config: object, appDir: string, root: string, sandbox: Sandbox, limits: SandboxLimits): Promise<CompilerRun> {
  const json = JSON.stringify(config);
  const work = sandbox.isolated ? undefined : mkdtempSync(join(tmpdir(), 'kgitops-typecheck-'));
  try {
    let command: string[];
    if (work) {
      writeFileSync(join(work, 'tsconfig.json'), json);
      command = [exe, '-p', join(work, 'tsconfig.json'), '--listFiles'];
    } else {
      command = ['/bin/sh', '-c', RUN_COMPILER, 'kgitops-typecheck', exe];
    }
    const p = sandbox.spawn({ command, cwd: root, env: { KGITOPS_TSCONFIG: json }, binds: appBinds(appDir, root), limits }, ['ignore', 'pipe', 'pipe']);
    const cap = limits.outputBytes;
    let stdout = '';
    let stderr = '';
    p.child.stdout!.on('data', (d: Buffer) => { if (stdout.length < cap) stdout += d.toString(); else p.kill(); });
    p.child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 64_000) stderr += d.toString(); });
    const exit = await p.exited;
    return { code: exit.code, stdout, stderr, timedOut: exit.timedOut, oomKilled: exit.oomKilled };
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

/** Reads the compiler's `--pretty false --listFiles` output: diagnostics, then every file it read. */
export function parseCompilerOutput(stdout: string, cwd: string): { errors: CachedError[]; files: string[] } {
  const errors: { file?: string; line?: number; col?: number; code: string; message: string }[] = [];
  const files: string[] = [];
  let last: (typeof errors)[number] | undefined;
  for (const line of stdout.split('\n')) {
    const located = /^(.+?)\((\d+),(\d+)\): error TS(\d+): (.*)$/.exec(line);
    const global = /^error TS(\d+): (.*)$/.exec(line);
    if (located) {
      last = { file: resolve(cwd, located[1]), line: Number(located[2]), col: Number(located[3]), code: located[4], message: located[5] };
      errors.push(last);
    } else if (global) {
      last = { code: global[1], message: global[2] };
      errors.push(last);
    } else if (/^\s+\S/.test(line) && last) {
      // An elaboration of the error above ("Type 'X' is not assignable to type 'Y'.").
      last.message += ` ${line.trim()}`;
    } else if (isAbsolute(line.trim()) && line.trim()) {
      files.push(line.trim());
      last = undefined;
    }
  }
  return { errors, files };
}

function within(dir: string, file: string): boolean {
  return file.startsWith(`${dir}${sep}`);
}

/** Diagnostics of a check, with sources relative to where kgitops runs. */
function toDiagnostics(errors: readonly CachedError[], more: number, root: string, tsconfig: RepoTsconfig): Diagnostic[] {
  const out: Diagnostic[] = errors.map((e, i) => ({
    severity: 'error', rule: TYPE_ERROR_RULE, message: `${e.message} (TS${e.code})`,
    ...(e.file ? { source: `${relative(process.cwd(), join(root, e.file)) || e.file}:${e.line}:${e.col}` } : {}),
    ...(i === 0 ? { hint: `kgitops type-checks the app before running it${tsconfig.file ? ` (strictness from ${tsconfig.file})` : ' (strict)'}; fix the type, or ${SKIP_HINT}` } : {}),
  }));
  if (more > 0) out.push({ severity: 'error', rule: TYPE_ERROR_RULE, message: `and ${more} more type error(s); run \`npx tsc --noEmit\` in the repo for all` });
  return out;
}

/**
 * Type-checks the app of `appDir` (the entry of its `npx tsx <file>` command, and its policy
 * files) in the sandbox. Never throws for the app's sake: a compiler that cannot run is an
 * error diagnostic too (nothing unchecked is applied).
 */
export async function typecheckApp(appDir: string, o: TypecheckOptions): Promise<TypecheckResult> {
  const started = performance.now();
  const done = (diagnostics: Diagnostic[], cached: boolean, skipped = false): TypecheckResult => ({
    diagnostics, ok: !diagnostics.some((d) => d.severity === 'error'), cached, skipped, durationMs: Math.round(performance.now() - started),
  });
  const root = resolve(o.root);
  try {
    // Before anything reads the app (a policies/ listing, say): a link out of the checkout is
    // refused when the app runs, with the file named; nothing is checked here then.
    confinedPath(root, relative(root, appDir), 'app path');
    assertNoOutsideSymlinks(root, appDir, ['node_modules', '.git', o.output ?? 'dist']);
  } catch (e) {
    if (e instanceof RepoPathError) return done([], false, true);
    throw e;
  }
  const entry = tsxEntry(o.command);
  if (!entry) {
    return done([{
      severity: 'warning', rule: SKIPPED_RULE,
      message: `the app is not type-checked: its command \`${o.command}\` is not \`npx tsx <file>.ts\``,
      hint: 'run a TypeScript app with `app: npx tsx main.ts` in cdk8s.yaml to have its types checked before it runs',
    }], false, true);
  }
  // Plain JavaScript has no types to check.
  if (!/\.[cm]?tsx?$/.test(entry)) return done([], false, true);
  const files = [join(appDir, entry)];
  if (o.policies !== false) {
    files.push(...policyFiles(join(appDir, 'policies')).filter((f) => /\.[cm]?tsx?$/.test(f)).map((f) => join(appDir, 'policies', f)));
  }
  const { config, key: keyed, repo } = generatedTsconfig(appDir, root, files);
  if (repo.problem) {
    return done([{ severity: 'error', rule: TYPE_ERROR_RULE, message: repo.problem, source: relative(process.cwd(), join(root, repo.file!)), hint: `fix or remove it, or ${SKIP_HINT}` }], false);
  }
  // The cache directory is part of the key: another directory is another cache, in memory too.
  const key = sha(`${o.cacheDir ?? ''}\0${engineKey()}\0${dependencyKey(appDir, root)}\0${JSON.stringify(keyed)}`);
  const hit = lookup(key, root, o.cacheDir);
  if (hit) return done(toDiagnostics(hit.errors, hit.more, root, repo), true);

  const exe = compilerPath();
  if (!exe) {
    return done([{
      severity: 'error', rule: TYPE_ERROR_RULE, message: 'the TypeScript compiler (typescript 7, @typescript/typescript-linux-x64) is not installed with kruise-gitops',
      hint: `reinstall kruise-gitops with its dependencies, or ${SKIP_HINT}`,
    }], false);
  }
  const limits = withLimits(baseLimits(), o.limits);
  const run = await runCompiler(exe, config, appDir, root, o.sandbox, limits);
  if (run.timedOut || run.oomKilled || run.code === null || run.code > 2) {
    const why = run.timedOut ? `did not finish within ${Math.round(limits.wallMs / 1000)} s` : run.oomKilled ? 'ran out of memory' : `failed (exit code ${run.code})`;
    const said = run.stderr.trim().split('\n').slice(-3).join(' | ');
    return done([{ severity: 'error', rule: TYPE_ERROR_RULE, message: `the type check of the app ${why}${said ? `: ${said}` : ''}`, hint: SKIP_HINT }], false);
  }
  const parsed = parseCompilerOutput(run.stdout, root);
  if (run.code !== 0 && parsed.errors.length === 0) {
    const said = `${run.stderr}\n${run.stdout}`.trim().split('\n').slice(-3).join(' | ');
    return done([{ severity: 'error', rule: TYPE_ERROR_RULE, message: `the type check of the app failed (exit code ${run.code})${said ? `: ${said}` : ''}`, hint: SKIP_HINT }], false);
  }
  // The user's files only: the engine's DSL and the packages in node_modules are not theirs to fix.
  const ours = (f: string) => within(root, f) && !f.includes(`${sep}node_modules${sep}`) && (!within(ENGINE_ROOT, f) || within(appDir, f));
  const relevant = parsed.errors.filter((e) => !e.file || ours(e.file));
  const errors: CachedError[] = relevant.slice(0, MAX_REPORTED).map((e) => ({ ...e, ...(e.file ? { file: relative(root, e.file) } : {}) }));
  const read = parsed.files.filter((f) => within(root, f) && !f.includes(`${sep}node_modules${sep}`)).map((f) => relative(root, f)).sort();
  const entryOut: CacheEntry = {
    files: read.map((f) => [f, fileHash(join(root, f))]),
    dirs: [...new Set(read.map((f) => dirname(f)))].sort().map((d) => [d, listing(join(root, d))]),
    errors, more: Math.max(0, relevant.length - MAX_REPORTED),
  };
  // A compiler that printed errors but listed no file did not get as far as the program: not cached.
  if (read.length) store(key, entryOut, o.cacheDir);
  return done(toDiagnostics(entryOut.errors, entryOut.more, root, repo), false);
}
