/** `kgitops sync`: keep a cluster equal to what git says. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { KubeCluster } from '../cluster/kube.js';
import type { Cluster } from '../cluster/types.js';
import { realClock } from '../clock.js';
import { ConfigError, type ConfigFlags, type EngineConfig, loadConfig } from '../config.js';
import { SyncEngine } from '../engine.js';
import { createLogger, type LogFormat, redactUrl } from '../log.js';
import { type ReconcileResult, Reconciler, type Source } from '../reconciler.js';
import { ReleaseController } from '../release/controller.js';
import { GitSource } from '../source/git.js';
import { startWebhookServer } from '../source/webhook.js';
import { ExitCode, type OutputFormat, parseFormat } from './output.js';
import { reportCrash } from './synth.js';

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (default: ./kgitops.yaml when present)')
    .option('--repo <url>', 'git URL or local path of the repo')
    .option('--ref <ref>', 'branch, tag or commit', undefined)
    .option('--path <dir>', 'directory in the repo with cdk8s.yaml')
    .option('--app <name>', 'app name (names the ApplySet parent ConfigMap kgitops-<app>)')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option('--simulate', 'use the built-in simulated cluster instead of a real one')
    .option('-n, --namespace <ns>', 'namespace for objects that name none (default: default)')
    .option('--parent-namespace <ns>', 'namespace of the ApplySet parent (default: --namespace)')
    .option('--cache-dir <dir>', 'where git mirrors, checkouts and dependencies are cached');
}

export function registerSync(program: Command): void {
  addEngineOptions(program.command('sync'))
    .description('Watch a git repo and apply every new commit with server-side apply: staged, validated, pruned, health-checked')
    .option('--interval <duration>', 'poll interval (default 30s)')
    .option('--once', 'run one reconcile and exit (0 applied or in sync, 1 failed, 2 usage error)')
    .option('--no-prune', 'never delete objects that left git')
    .option('--max-prune-fraction <f>', 'refuse to prune more than this fraction of the objects (default 0.5)')
    .option('--allow-mass-prune', 'allow pruning past --max-prune-fraction, or everything')
    .option('--force-conflicts', 'take over fields owned by other field managers')
    .option('--webhook-port <port>', 'serve push webhooks on this port (/hooks/github, /hooks/gitlab, /hooks/generic)')
    .option('-o, --output <format>', 'text or json (--once: the result)', parseFormat, 'text')
    .option('--log-format <format>', 'text or json', 'text')
    .addHelpText('after', `
Examples:
  kgitops sync --repo https://github.com/acme/shop.git --path deploy --kubeconfig ~/.kube/prod
  kgitops sync --repo . --once                 apply the local repo's HEAD of main once
  kgitops sync --simulate --repo . --once      the same against the built-in simulated cluster

State lives in the cluster (ConfigMap kgitops-<app>, an ApplySet parent): a restarted engine
carries on where it stopped. Secrets: the git token is read from KGITOPS_GIT_TOKEN, the webhook
secret from KGITOPS_WEBHOOK_SECRET; neither is ever logged.`)
    .action(async (opts: ConfigFlags & { once?: boolean; output: OutputFormat; logFormat: LogFormat; interval?: string }) => {
      process.exitCode = await runSync(opts);
    });
}

export async function connect(config: EngineConfig): Promise<Cluster> {
  if (config.cluster.simulated) {
    const { SimCluster } = await import('../cluster/sim/index.js');
    return new SimCluster({ clock: realClock });
  }
  return KubeCluster.load({ kubeconfig: config.cluster.kubeconfig, context: config.cluster.context });
}

export function gitSource(config: EngineConfig): Source {
  const git = new GitSource({ url: config.repo, ref: config.ref, cacheDir: join(config.cacheDir, 'git') });
  return {
    describe: () => `${redactUrl(config.repo)}@${config.ref}`,
    fetch: () => git.fetch(),
    checkout: (sha) => git.checkout(sha),
    isAncestor: (a, b) => git.isAncestor(a, b),
  };
}

async function runSync(opts: ConfigFlags & { once?: boolean; output: OutputFormat; logFormat: LogFormat }): Promise<number> {
  let config: EngineConfig;
  try {
    config = loadConfig(opts);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
      return ExitCode.ERROR;
    }
    return reportCrash(e);
  }
  const log = createLogger({ format: opts.logFormat });
  let cluster: Cluster;
  try {
    cluster = await connect(config);
  } catch (e) {
    return reportCrash(e);
  }
  if (cluster.simulated) log.warn('SIMULATION: the cluster is simulated in this process; nothing reaches a real cluster');
  log.info({ app: config.app, source: `${redactUrl(config.repo)}@${config.ref}`, path: config.path, cluster: cluster.name }, 'kgitops sync starting');
  let engine: SyncEngine | undefined;
  const releases = new ReleaseController({ cluster, clock: realClock, log, requestReconcile: (reason) => engine?.trigger(reason) });
  const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, log, releases);
  const controller = new AbortController();
  const stop = (sig: string) => {
    if (controller.signal.aborted) return;
    log.warn({ signal: sig }, 'stopping: finishing the requests in flight');
    controller.abort(new Error(`stopped by ${sig}`));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  if (opts.once) {
    const r = await reconciler.reconcile(controller.signal);
    releases.stop();
    reconciler.close();
    printResult(r, opts.output);
    return r.result === 'Succeeded' || r.result === 'NoChange' ? ExitCode.OK : ExitCode.INVALID;
  }
  engine = new SyncEngine(reconciler, { intervalMs: config.intervalMs, clock: realClock, log });
  let webhook: { close(): Promise<void> } | undefined;
  if (config.webhook) {
    const secret = process.env[config.webhook.secretEnv];
    if (!secret) {
      process.stderr.write(`error: --webhook-port needs a secret in $${config.webhook.secretEnv}\n`);
      return ExitCode.ERROR;
    }
    webhook = await startWebhookServer({
      port: config.webhook.port, host: config.webhook.host, secret,
      onPush: (p) => engine.trigger(`${p.provider} push${p.ref ? ` to ${p.ref}` : ''}`),
    });
    log.info({ port: config.webhook.port }, 'push webhooks: POST /hooks/github, /hooks/gitlab, /hooks/generic');
  }
  await engine.run(controller.signal);
  releases.stop();
  reconciler.close();
  await webhook?.close();
  log.info('stopped');
  return ExitCode.OK;
}

export function printResult(r: ReconcileResult, format: OutputFormat): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${r.result}: ${r.message} (${(r.durationMs / 1000).toFixed(1)} s)\n`);
  for (const e of r.errors) process.stdout.write(`  error: ${e.object ? `${e.object.kind} ${e.object.namespace ? `${e.object.namespace}/` : ''}${e.object.name}: ` : ''}${e.message}\n${e.hint ? `    hint: ${e.hint}\n` : ''}`);
}
