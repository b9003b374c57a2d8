/**
 * The type check before synth (engine/synth/typecheck.ts), on apps laid out as the engine sees a
 * commit: a checkout of its own whose node_modules is the engine runtime (links into the
 * engine), checked by the native compiler in the sandbox.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../../engine/sandbox/index.js';
import { prepareDependencies } from '../../../engine/synth/dependencies.js';
import { generatedTsconfig, parseCompilerOutput, parseJsonc, typecheckApp } from '../../../engine/synth/typecheck.js';

const work = mkdtempSync(join(tmpdir(), 'kgitops-typecheck-'));
const cacheDir = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** A checkout holding main.ts (and any other files), with the engine's packages as node_modules. */
async function checkout(main: string, files: Record<string, string> = {}): Promise<string> {
  const dir = join(work, `checkout-${++n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'main.ts'), main);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  await prepareDependencies(dir, dir, { cacheDir });
  return dir;
}

async function check(dir: string, command = 'npx tsx main.ts', cache: string | undefined = cacheDir) {
  return typecheckApp(dir, { sandbox: await Sandbox.default(), root: dir, command, ...(cache ? { cacheDir: cache } : {}) });
}

const at = (dir: string, file: string, line: number, col: number) => `${relative(process.cwd(), join(dir, file))}:${line}:${col}`;

const HEADER = `import { Chart } from 'cdk8s';
import {
  AdvancedCronJob, AdvancedDaemonSet, AdvancedStatefulSet, App, BroadcastJob, CloneSet, CronJobTemplate, SidecarSet, UnitedDeployment,
} from 'kruise-gitops';
const chart = new Chart(new App(), 'web', { namespace: 'web' });
const containers = [{ image: 'registry.example.com/web:1.0.0' }];
const selector = { matchLabels: { app: 'web' } };
`;

/** Each L2 construct with the least it needs; the typo goes first in its props. */
const CONSTRUCTS: [string, string, string][] = [
  ['CloneSet', 'CloneSetProps', "new CloneSet(chart, 'x', { TYPO, containers });"],
  ['AdvancedStatefulSet', 'AdvancedStatefulSetProps', "new AdvancedStatefulSet(chart, 'x', { TYPO, containers });"],
  ['AdvancedDaemonSet', 'AdvancedDaemonSetProps', "new AdvancedDaemonSet(chart, 'x', { TYPO, containers });"],
  ['SidecarSet', 'SidecarSetProps', "new SidecarSet(chart, 'x', { TYPO, selector, containers });"],
  ['UnitedDeployment', 'UnitedDeploymentProps<"zone-a">', "new UnitedDeployment(chart, 'x', { TYPO, subsets: [{ name: 'zone-a' }], containers });"],
  ['BroadcastJob', 'BroadcastJobProps', "new BroadcastJob(chart, 'x', { TYPO, containers });"],
  ['AdvancedCronJob', 'AdvancedCronJobProps', "new AdvancedCronJob(chart, 'x', { TYPO, schedule: '0 3 * * *', template: CronJobTemplate.job(), containers });"],
];

describe('type check of an app', () => {
  it('catches a misspelt prop on every L2 construct: replica and podMetdata, each with its line and column', async () => {
    const lines = CONSTRUCTS.flatMap(([, , code]) => [code.replace('TYPO', 'replica: 4'), code.replace('TYPO', 'podMetdata: { labels: {} }')]);
    const dir = await checkout(`${HEADER}${lines.join('\n')}\n`);
    const r = await check(dir);
    expect(r.ok).toBe(false);
    const first = HEADER.split('\n').length;
    const expected = CONSTRUCTS.flatMap(([, props], i) => ['replica', 'podMetdata'].map((typo, j) => {
      const line = first + 2 * i + j;
      return `${at(dir, 'main.ts', line, lines[2 * i + j].indexOf(typo) + 1)} ${typo} ${props}`;
    }));
    expect(r.diagnostics.map((d) => `${d.source} ${/'(\w+)' does not exist in type '([^']+)'/.exec(d.message)?.slice(1).join(' ')}`)).toEqual(expected);
    expect(r.diagnostics.every((d) => d.rule === 'synth/type-error' && d.severity === 'error')).toBe(true);
    expect(r.diagnostics[0].message).toMatch(/Did you mean to write 'replicas'\? \(TS2561\)$/);
    expect(r.diagnostics[0].hint).toContain('--no-typecheck');
  }, 60_000);

  it('passes a correct app, and answers an unchanged tree from the cache, in another checkout directory too', async () => {
    const main = `${HEADER}new CloneSet(chart, 'x', { replicas: 4, podMetadata: { labels: { app: 'web' } }, containers });\n`;
    const dir = await checkout(main, { 'lib/unused.ts': 'export const a = 1;\n' });
    const first = await check(dir);
    expect(first).toMatchObject({ ok: true, cached: false, skipped: false, diagnostics: [] });
    expect((await check(dir)).cached).toBe(true);
    // The engine checks out each commit into a directory of its own: same files, same answer.
    const copy = join(work, 'copy-of-checkout');
    cpSync(dir, copy, { recursive: true, verbatimSymlinks: true });
    expect((await check(copy)).cached).toBe(true);
    // A file the app does not import does not matter; a changed one does.
    writeFileSync(join(copy, 'lib/unused.ts'), 'export const a: number = "one";\n');
    expect((await check(copy)).cached).toBe(true);
    writeFileSync(join(copy, 'main.ts'), main.replace('replicas: 4', 'replicas: "4"'));
    const changed = await check(copy);
    expect(changed).toMatchObject({ ok: false, cached: false });
    expect(changed.diagnostics[0].message).toContain("Type 'string' is not assignable to type 'number'");
    // A new file next to an imported one may shadow it: the directory's listing is part of the key.
    writeFileSync(join(copy, 'main.ts'), main);
    expect((await check(copy)).cached).toBe(true);
    writeFileSync(join(copy, 'extra.ts'), 'export {};\n');
    expect((await check(copy)).cached).toBe(false);
  }, 60_000);

  it('reports errors in the app\'s own modules and policy files, with their paths', async () => {
    const policy = "import { definePolicy } from 'kruise-gitops/policy';\nexport default definePolicy({ name: 'x', chek() {} });\n";
    const dir = await checkout(`import { replicasFor } from './lib/sizes.js';\nconst n: number = replicasFor('web');\nexport { n };\n`, {
      'lib/sizes.ts': 'export function replicasFor(name: string): string {\n  return name.length;\n}\n',
      'policies/labels.ts': policy,
    });
    const r = await check(dir);
    // In the compiler's order: a module before the files that import it.
    expect(r.diagnostics.map((d) => d.source)).toEqual([
      at(dir, 'lib/sizes.ts', 2, 3), at(dir, 'main.ts', 2, 7), at(dir, 'policies/labels.ts', 2, policy.split('\n')[1].indexOf('chek') + 1),
    ]);
    expect(r.diagnostics[2].message).toContain("'chek' does not exist");
  }, 60_000);

  it('takes only strictness from the repo\'s tsconfig.json: no extends, paths, typeRoots or files reach outside', async () => {
    const dir = await checkout('export function twice(x) { return x * 2; }\n', {
      'tsconfig.json': `{
  // comments and trailing commas, as tsc allows
  "extends": "/etc/kgitops-nowhere/tsconfig.json",
  "compilerOptions": {
    "strict": false, /* implicit any is fine here */
    "paths": { "kruise-gitops": ["/etc/passwd"] },
    "typeRoots": ["/"], "baseUrl": "/", "customConditions": ["evil"], "plugins": [{ "name": "x" }],
    "types": ["../../etc"],
  },
  "include": ["/**/*"],
}`,
    });
    const { config } = generatedTsconfig(dir, dir, [join(dir, 'main.ts')]);
    const options = (config as { compilerOptions: Record<string, unknown> }).compilerOptions;
    expect(options).toMatchObject({ strict: false, types: ['node'], moduleResolution: 'bundler', noEmit: true });
    for (const k of ['paths', 'baseUrl', 'plugins', 'extends', 'include']) expect(options).not.toHaveProperty(k);
    expect(options.customConditions).not.toContain('evil');
    expect((options.typeRoots as string[]).every((r) => r.endsWith('/node_modules/@types'))).toBe(true);
    expect(config).toEqual({ compilerOptions: options, files: [join(dir, 'main.ts')] });
    expect((await check(dir)).ok).toBe(true);
    // Without the repo's tsconfig the check is strict: the same parameter is an implicit any.
    rmSync(join(dir, 'tsconfig.json'));
    const strict = await check(dir);
    expect(strict.diagnostics.map((d) => d.message)).toEqual(["Parameter 'x' implicitly has an 'any' type. (TS7006)"]);
  }, 60_000);

  it('does not check what it cannot: a command other than tsx (warning), a JavaScript entry (nothing to check)', async () => {
    const dir = await checkout('export const x: number = "not checked";\n');
    const other = await check(dir, 'node main.js');
    expect(other).toMatchObject({ ok: true, skipped: true });
    expect(other.diagnostics).toEqual([expect.objectContaining({ severity: 'warning', rule: 'synth/not-type-checked' })]);
    expect(await check(dir, 'npx tsx main.js')).toMatchObject({ ok: true, skipped: true, diagnostics: [] });
  });
});

describe('reading tsconfig.json and compiler output', () => {
  it('reads JSON with comments and trailing commas, and leaves strings alone', () => {
    expect(parseJsonc('{ "a": "// not a comment", /* c */ "b": [1, 2,], // end\n }')).toEqual({ a: '// not a comment', b: [1, 2] });
  });

  it('reads located and global errors, their elaborations, and the files listed', () => {
    const out = [
      "main.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.",
      "  Type 'a' is not assignable to type 'b'.",
      "error TS5023: Unknown compiler option 'x'.",
      '/repo/main.ts',
      '/engine/node_modules/cdk8s/lib/index.d.ts',
    ].join('\n');
    expect(parseCompilerOutput(out, '/repo')).toEqual({
      errors: [
        { file: '/repo/main.ts', line: 3, col: 7, code: '2322', message: "Type 'string' is not assignable to type 'number'. Type 'a' is not assignable to type 'b'." },
        { code: '5023', message: "Unknown compiler option 'x'." },
      ],
      files: ['/repo/main.ts', '/engine/node_modules/cdk8s/lib/index.d.ts'],
    });
  });
});
