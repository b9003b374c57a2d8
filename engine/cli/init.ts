/**
 * `kgitops init [dir]`: a repo of your own that synthesizes at once. The files come from
 * templates/app (shipped in the package); package.json is written here, so that it names the
 * versions of kruise-gitops and its peers that this engine was built and tested with.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { ENGINE_ROOT } from '../synth/runtime.js';
import { UsageError } from '../synth/index.js';
import { ExitCode, type OutputFormat, parseFormat } from './output.js';
import { reportError } from './errors.js';

export const TEMPLATE_DIR = join(ENGINE_ROOT, 'templates', 'app');

interface EnginePackage {
  version: string;
  peerDependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export interface InitOptions {
  /** What package.json depends on for kruise-gitops. @default ^<this engine's version> */
  readonly packageSpec?: string;
  /** Run `git init` when the directory is not in a git work tree yet. @default true */
  readonly git?: boolean;
}

export interface InitResult {
  readonly dir: string;
  readonly files: string[];
  readonly gitInitialized: boolean;
}

/** The package.json of a new repo: an ES module package depending on kruise-gitops and its peers. */
export function appPackageJson(name: string, packageSpec?: string): Record<string, unknown> {
  const engine = JSON.parse(readFileSync(join(ENGINE_ROOT, 'package.json'), 'utf8')) as EnginePackage;
  return {
    name: name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'kruise-app',
    version: '0.0.0',
    private: true,
    type: 'module',
    scripts: {
      synth: 'kgitops synth',
      diff: 'kgitops diff',
      preview: 'kgitops preview .',
      policies: 'kgitops policies',
    },
    dependencies: {
      'kruise-gitops': packageSpec ?? `^${engine.version}`,
      ...engine.peerDependencies,
    },
    devDependencies: {
      'cdk8s-cli': engine.devDependencies?.['cdk8s-cli'] ?? '^2',
    },
  };
}

/** Template files, relative to the template directory (`gitignore` is written as `.gitignore`: npm drops .gitignore files from packages). */
function templateFiles(dir = TEMPLATE_DIR, prefix = ''): string[] {
  return readdirSync(dir).flatMap((e) => (statSync(join(dir, e)).isDirectory() ? templateFiles(join(dir, e), `${prefix}${e}/`) : [`${prefix}${e}`]));
}

const target = (file: string) => (file === 'gitignore' ? '.gitignore' : file);

export function scaffold(dir: string, options: InitOptions = {}): InitResult {
  const root = resolve(dir);
  if (existsSync(root) && !statSync(root).isDirectory()) throw new UsageError(`${dir} is a file, not a directory`);
  const files = [...templateFiles().map(target), 'package.json'].sort();
  const present = files.filter((f) => existsSync(join(root, f)));
  if (present.length) {
    throw new UsageError(`${dir} already has ${present.join(', ')}: kgitops init writes only into a directory without them`,
      'run it in a new directory (kgitops init my-repo), or move those files away first');
  }
  mkdirSync(root, { recursive: true });
  // Everything is written beside the target first, then moved in: an interrupted init leaves no half repo.
  const staging = join(root, `.kgitops-init-${process.pid}`);
  try {
    cpSync(TEMPLATE_DIR, staging, { recursive: true });
    renameSync(join(staging, 'gitignore'), join(staging, '.gitignore'));
    writeFileSync(join(staging, 'package.json'), `${JSON.stringify(appPackageJson(basename(root), options.packageSpec), null, 2)}\n`);
    for (const entry of readdirSync(staging)) cpSync(join(staging, entry), join(root, entry), { recursive: true, errorOnExist: true, force: false });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }

  let gitInitialized = false;
  if (options.git !== false && !insideGitWorkTree(root)) {
    try {
      execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: root, stdio: 'ignore' });
      gitInitialized = true;
    } catch { /* no git: the files are there; sync needs a repo later */ }
  }
  return { dir: root, files, gitInitialized };
}

function insideGitWorkTree(dir: string): boolean {
  try {
    return execFileSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'true';
  } catch {
    return false;
  }
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .argument('[dir]', 'directory of the new repo (created if missing)', '.')
    .description('Scaffold a repo of your own: cdk8s.yaml, main.ts with a CloneSet and a release plan, policies/, package.json, tsconfig.json, .gitignore and a GitHub Actions workflow that diffs pull requests')
    .option('--package <spec>', 'what package.json depends on for kruise-gitops (a version range, a tarball path, a git URL)')
    .option('--no-git', 'do not run git init')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text')
    .addHelpText('after', `
The new repo synthesizes at once, before npm install: an app without node_modules runs against
kgitops's own packages. Install to get editor types and \`npx cdk8s synth\`.

Exit codes: 0 written, 2 the directory already has those files (nothing is written).

Examples:
  kgitops init shop && cd shop && npm install && npx kgitops synth
  kgitops init . --no-git -o json`)
    .action((dir: string, opts: { package?: string; git: boolean; output: OutputFormat }) => {
      try {
        const r = scaffold(dir, { ...(opts.package ? { packageSpec: opts.package } : {}), git: opts.git });
        if (opts.output === 'json') {
          process.stdout.write(`${JSON.stringify({ ok: true, dir: r.dir, files: r.files, gitInitialized: r.gitInitialized }, null, 2)}\n`);
        } else {
          const shown = relative(process.cwd(), r.dir) || '.';
          process.stdout.write(`created ${shown}: ${r.files.join(', ')}${r.gitInitialized ? ' (and git init)' : ''}\n\nnext:\n`
            + (shown === '.' ? '' : `  cd ${shown}\n`)
            + '  npm install              kruise-gitops, cdk8s and cdk8s-plus-33 (editor types, npx cdk8s synth)\n'
            + '  npx kgitops synth        type-check, synthesize and validate into dist/\n'
            + '  npx kgitops preview .    the release plan, step by step\n'
            + '  git add -A && git commit -m "first workloads", then see README "Start your own repo" for a release on a cluster\n');
        }
        process.exitCode = ExitCode.OK;
      } catch (e) {
        process.exitCode = reportError(e, opts.output);
      }
    });
}
