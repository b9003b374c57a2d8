/**
 * `kgitops demo` (what `npm start` runs): the controller, with the examples/ repo declared as an App (--once: one reconcile of it), against the
 * built-in simulated cluster, so that it runs on a fresh machine with nothing installed. With
 * --kubeconfig the same engine runs against a real cluster instead.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { readStatus, formatStatus } from './status.js';
import { connect, gitSource, printResult } from './sync.js';
import { realClock } from '../clock.js';
import { loadConfig } from '../config.js';
import { KubeCluster } from '../cluster/kube.js';
import type { KubeObject } from '../cluster/types.js';
import { APP_API_VERSION, APP_KIND, appCrd } from '../controller/app-resource.js';
import { Controller } from '../controller/controller.js';
import { createLogger, type LogFormat } from '../log.js';
import { Reconciler } from '../reconciler.js';
import { ReleaseController } from '../release/controller.js';
import { addDashboardOptions, type DashboardFlags, startDashboard } from './dashboard.js';
import { demoReleaseRepo, type DemoReleaseRepo } from './demo-release.js';
import { ExitCode } from './output.js';
import { reportError } from './errors.js';
import { Sandbox, SandboxUnavailableError } from '../sandbox/index.js';
import { ENGINE_ROOT } from '../synth/runtime.js';

const ROOT = ENGINE_ROOT;
/** Where `npm start` declares the examples' App. */
const DEMO_NAMESPACE = 'kgitops-demo';

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/**
 * The repo to watch: this checkout (its current branch, or commit when detached) when it is a
 * git checkout; otherwise a fresh repo made from a copy of examples/.
 */
function examplesRepo(): { repo: string; ref: string; path: string; local: boolean } {
  try {
    const branch = git(['rev-parse', '--abbrev-ref', 'HEAD'], ROOT);
    const ref = branch === 'HEAD' ? git(['rev-parse', 'HEAD'], ROOT) : branch;
    if (git(['ls-tree', '--name-only', 'HEAD', 'examples/cdk8s.yaml'], ROOT)) return { repo: ROOT, ref, path: 'examples', local: true };
  } catch { /* not a git checkout */ }
  const dir = mkdtempSync(join(tmpdir(), 'kgitops-examples-'));
  cpSync(join(ROOT, 'examples'), dir, { recursive: true, filter: (src) => !/\/(dist|node_modules)(\/|$)/.test(src) });
  git(['init', '-q', '-b', 'main'], dir);
  execFileSync('git', ['-c', 'user.name=kgitops', '-c', 'user.email=kgitops@localhost', 'commit', '-q', '--allow-empty', '-m', 'examples'], { cwd: dir });
  git(['add', '-A'], dir);
  execFileSync('git', ['-c', 'user.name=kgitops', '-c', 'user.email=kgitops@localhost', 'commit', '-q', '-m', 'examples'], { cwd: dir });
  return { repo: dir, ref: 'main', path: '.', local: false };
}

/**
 * Once the App is Current, commits the demo's release, then keeps the clone following the
 * checkout until the demo stops.
 */
async function runDemoRelease(demo: DemoReleaseRepo, apps: Controller, key: string, intervalMs: number, signal: AbortSignal): Promise<void> {
  process.stderr.write(`the App watches ${demo.repo} (branch ${demo.ref}): a clone of this checkout that merges its new commits every interval, where the demo commits a release of its own once the shop is Current (--no-demo-release: watch the checkout itself)\n\n`);
  while (!signal.aborted && apps.appObject(key)?.status?.health !== 'Current') await realClock.sleep(1000, signal).catch(() => {});
  if (signal.aborted) return;
  const image = demo.release();
  if (image) apps.trigger(key); // the App's interval may be long: the demo's commit is its push
  process.stderr.write(image
    ? `\ndemo release: committed ${image} to the clone; the cart releases zone by zone (open the dashboard, approve or pause it there, or run kgitops status)\n\n`
    : '\ndemo release: the examples declare no cart image to bump, so the demo starts no release\n\n');
  while (!signal.aborted) {
    await realClock.sleep(Math.max(1000, Math.min(intervalMs, 10_000)), signal).catch(() => {});
    if (signal.aborted) break;
    const { merged, problem } = demo.follow();
    if (merged) apps.trigger(key);
    if (problem) process.stderr.write(`${problem}\n`);
  }
}

export function registerDemo(program: Command): void {
  addDashboardOptions(program
    .command('demo'), '8080')
    .description('Run the sync engine on the examples/ repo against the built-in simulated cluster (what npm start runs)')
    .option('--kubeconfig <file>', 'use a real cluster instead of the simulation')
    .option('--context <name>', 'kubeconfig context')
    .option('--interval <duration>', 'poll interval', '5s')
    .option('--once', 'one reconcile, then print the status once the workloads settle, and exit')
    .option('--log-format <format>', 'text or json', 'text')
    .option('--unsafe-no-sandbox', 'run the examples without the sandbox (the default when bubblewrap is not installed)')
    .option('--no-ui', 'no dashboard')
    .option('--no-demo-release', 'on the simulated cluster, do not start a release of the cart by itself (then the checkout itself is watched)')
    .action(async (opts: DemoFlags) => {
      process.exitCode = await runDemo(opts);
    });
}

/**
 * Whether the sandbox works here. The demo runs this checkout's own examples, which ship with
 * kruise-gitops, so on a machine without bubblewrap (a fresh one, `npm ci && npm start`) it runs
 * them without the sandbox and says so on every run; `kgitops sync` refuses instead.
 */
async function sandboxAvailable(): Promise<boolean> {
  try {
    await Sandbox.default();
    return true;
  } catch (e) {
    if (!(e instanceof SandboxUnavailableError)) throw e;
    process.stderr.write(`\nNO SANDBOX: ${e.message}.\nThe demo runs the examples of this checkout (part of kruise-gitops) without it; \`kgitops sync\` would refuse to run a repo's code.\nhint: ${e.hint}\n`);
    return false;
  }
}

type DemoFlags = DashboardFlags & { kubeconfig?: string; context?: string; interval: string; once?: boolean; logFormat: LogFormat; unsafeNoSandbox?: boolean; ui: boolean; demoRelease: boolean };

async function runDemo(opts: DemoFlags): Promise<number> {
  try {
    const src = examplesRepo();
    const config = loadConfig({
      repo: src.repo, ref: src.ref, path: src.path, app: 'shop', interval: opts.interval,
      simulate: !opts.kubeconfig, kubeconfig: opts.kubeconfig, context: opts.context,
      unsafeNoSandbox: opts.unsafeNoSandbox ?? !(await sandboxAvailable()),
    }, ROOT);
    const log = createLogger({ format: opts.logFormat });
    const cluster = await connect(config);
    const banner = cluster.simulated
      ? 'SIMULATION: kgitops runs against a cluster simulated in this process (Kruise-like controllers, pods that start and become ready); nothing reaches a real cluster. Pass --kubeconfig to use a real one.'
      : `kgitops demo against the real cluster ${cluster.name}`;
    process.stderr.write(`\n${banner}\nwatching ${src.repo}${src.path === '.' ? '' : `/${src.path}`} at ${src.ref}${src.local ? ' (commit a change under examples/ to see it applied)' : ''}\n\n`);
    const releases = new ReleaseController({ cluster, clock: realClock, log });
    const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, log, releases);
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.once('SIGTERM', () => controller.abort());
    if (opts.once) {
      const r = await reconciler.reconcile(controller.signal);
      printResult(r, 'text');
      // Let the simulated controllers bring the pods up, then show where everything stands.
      for (let i = 0; i < 120 && !controller.signal.aborted; i++) {
        const s = await readStatus(cluster, config.app, config.parentNamespace);
        if (!s.objects.some((o) => o.health === 'Progressing')) break;
        await realClock.sleep(500, controller.signal).catch(() => {});
      }
      await reconciler.reconcile(controller.signal);
      process.stdout.write(`\n${formatStatus(await readStatus(cluster, config.app, config.parentNamespace))}`);
      releases.stop();
      reconciler.close();
      (cluster as { stop?: () => void }).stop?.();
      return r.result === 'Succeeded' || r.result === 'NoChange' ? ExitCode.OK : ExitCode.INVALID;
    }
    releases.stop();
    reconciler.close();
    // Kept running: the controller, with the examples declared as an App (what a platform team
    // installs), acting as itself (the simulation has no RBAC to impersonate into).
    await cluster.apply(appCrd() as unknown as KubeObject, { fieldManager: 'kgitops-demo' });
    if (cluster instanceof KubeCluster) cluster.invalidateDiscovery();
    await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } }, { fieldManager: 'kgitops-demo' });
    // On the simulation, a release of its own (see demo-release.ts), from a clone of the checkout.
    const demo = cluster.simulated && src.local && opts.demoRelease !== false ? demoReleaseRepo(src.repo, src.ref) : undefined;
    const watched = demo ? { repo: demo.repo, ref: demo.ref } : { repo: src.repo, ref: src.ref };
    const app = {
      apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: DEMO_NAMESPACE },
      spec: { source: { repo: watched.repo, ref: watched.ref, path: src.path, interval: opts.interval } },
    };
    await cluster.apply(app as unknown as KubeObject, { fieldManager: 'kgitops-demo' });
    process.stderr.write(`the examples are declared as App ${DEMO_NAMESPACE}/shop (apps.kgitops.io); the controller reconciles it until Ctrl-C\n\n`);
    const apps = new Controller({
      cluster, clock: realClock, log, cacheDir: config.cacheDir, sandbox: config.sandbox, typecheck: config.typecheck,
      allowLocalRepos: true, allowControllerIdentity: true,
    });
    const dashboard = opts.ui ? await startDashboard(opts, { controller: apps, cluster, clock: realClock, cacheDir: config.cacheDir, log, anyPortIfTaken: opts.uiPort === '8080' }) : undefined;
    if (dashboard === false) return ExitCode.ERROR;
    if (dashboard) process.stderr.write(`\ndashboard: ${dashboard.url}\n\n`);
    const stopped = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
    const demoRun = demo ? runDemoRelease(demo, apps, `${DEMO_NAMESPACE}/shop`, config.intervalMs, controller.signal) : undefined;
    await Promise.race([apps.run(), stopped]);
    controller.abort(); // the demo's release follows the controller
    await demoRun;
    demo?.remove();
    await dashboard?.close();
    await apps.stop();
    (cluster as { stop?: () => void }).stop?.();
    return ExitCode.OK;
  } catch (e) {
    return reportError(e);
  }
}
