/** `kgitops sync`: keep a cluster equal to what git says. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { KubeCluster, type RequestObserver } from '../cluster/kube.js';
import type { Cluster } from '../cluster/types.js';
import { realClock } from '../clock.js';
import { type ConfigFlags, type EngineConfig, loadConfig } from '../config.js';
import { SyncEngine } from '../engine.js';
import { describeRef } from '../identity.js';
import { worstHealth } from '../health/index.js';
import { createLogger, type LogFormat, redactUrl } from '../log.js';
import { EngineMetrics } from '../metrics/index.js';
import { type ReconcileResult, Reconciler, type Source } from '../reconciler.js';
import { onReleaseTransitions, ReleaseController } from '../release/controller.js';
import { GitSource } from '../source/git.js';
import { pushDecision, startWebhookServer, type PushEvent } from '../source/webhook.js';
import { ExitCode, type OutputFormat, parseFormat } from './output.js';
import { addMetricsOptions, type MetricsFlags, serveMetrics } from './metrics.js';
import { addSandboxOptions } from './sandbox.js';
import { printFailure, reportError } from './errors.js';

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (default: ./kgitops.yaml when present)')
    .option('--repo <url>', 'git URL or local path of the repo')
    .option('--ref <ref>', 'branch, tag or commit (default: the remote\'s default branch, its HEAD)', undefined)
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
  addMetricsOptions(addSandboxOptions(addEngineOptions(program.command('sync'))))
    .description('Watch a git repo and apply every new commit with server-side apply: staged, validated, pruned, health-checked')
    .option('--interval <duration>', 'poll interval (default 30s)')
    .option('--no-typecheck', 'do not type-check each commit\'s app before running it (also typecheck: false in kgitops.yaml)')
    .option('--once', 'run one reconcile and exit (0 applied or in sync, 1 failed, 2 usage error)')
    .option('--no-prune', 'never delete objects that left git')
    .option('--max-prune-fraction <f>', 'refuse to prune more than this fraction of the objects (default 0.5)')
    .option('--allow-mass-prune', 'allow pruning past --max-prune-fraction, or everything')
    .option('--force-conflicts', 'take over fields owned by other field managers')
    .option('--approvers <file>', 'allowed-signers file (git\'s ssh format) of who may approve release steps in approvals.yaml with signed commits (default: approvers: in kgitops.yaml; none: git approvals are off)')
    .option('--approvers-gpg <file>', 'OpenPGP public keys of more approvers (their signed commits count too)')
    .option('--webhook-port <port>', 'serve push webhooks on this port (/hooks/github, /hooks/gitlab, /hooks/generic)')
    .option('--webhook-host <addr>', 'address the webhooks listen on (default 127.0.0.1, this host only; 0.0.0.0 for every interface)')
    .option('-o, --output <format>', 'text or json (--once: the result)', parseFormat, 'text')
    .option('--log-format <format>', 'text or json', 'text')
    .addHelpText('after', `
Examples:
  kgitops sync --repo https://github.com/acme/shop.git --path deploy --kubeconfig ~/.kube/prod
  kgitops sync --repo . --once                 apply the local repo's default branch once
  kgitops sync --simulate --repo . --once      the same against the built-in simulated cluster
  kgitops sync --repo ... --metrics-port 9090  with /metrics (Prometheus), /healthz and /readyz

State lives in the cluster (ConfigMap kgitops-<app>, an ApplySet parent): a restarted engine
carries on where it stopped. Secrets: the git token is read from KGITOPS_GIT_TOKEN, the webhook
secret from KGITOPS_WEBHOOK_SECRET; neither is ever logged.`)
    .action(async (opts: SyncFlags & { interval?: string }) => {
      process.exitCode = await runSync(opts);
    });
}

/**
 * The cluster a command works on: the simulation, or the kubeconfig's cluster checked up front
 * (found, read, reachable, credentials accepted: KubeCluster.connect), so that a command without a
 * usable kubeconfig says so in one line instead of failing on its first request.
 */
export async function connect(config: EngineConfig, observer?: RequestObserver): Promise<Cluster> {
  if (config.cluster.simulated) {
    const { SimCluster } = await import('../cluster/sim/index.js');
    return new SimCluster({ clock: realClock });
  }
  return KubeCluster.connect({ kubeconfig: config.cluster.kubeconfig, context: config.cluster.context, ...(observer ? { observer } : {}) });
}

/** A Source that also tells which ref it follows now. */
export interface FollowingSource extends Source {
  /**
   * The configured ref; without one, the default branch the last fetch found (refs/heads/master),
   * or undefined before the first fetch (or when the remote's HEAD is detached).
   */
  followedRef(): string | undefined;
}

/** @param log where the mirror's repair notes go (a tampered mirror recreated, a stale lock removed) */
export function gitSource(config: EngineConfig, log?: (line: string) => void): FollowingSource {
  const git = new GitSource({ url: config.repo, ref: config.ref, cacheDir: join(config.cacheDir, 'git'), log });
  let defaultBranch: string | undefined;
  return {
    describe: () => `${redactUrl(config.repo)}@${config.ref ?? (defaultBranch ? `${defaultBranch.replace(/^refs\/heads\//, '')} (default branch)` : 'HEAD (default branch)')}`,
    fetch: async () => {
      const revision = await git.fetch();
      if (revision.defaultBranch) defaultBranch = revision.refName ?? undefined;
      return revision;
    },
    followedRef: () => config.ref ?? defaultBranch,
    checkout: (sha) => git.checkout(sha),
    isAncestor: (a, b) => git.isAncestor(a, b),
    history: git,
  };
}

type SyncFlags = ConfigFlags & MetricsFlags & { once?: boolean; output: OutputFormat; logFormat: LogFormat };

async function runSync(opts: SyncFlags): Promise<number> {
  let config: EngineConfig;
  let cluster: Cluster;
  // The app as the last reconcile left it (the apps gauge), and whether one has run (/readyz).
  let last: { sync: string; health: string } | undefined;
  const metrics = opts.metricsPort !== undefined ? new EngineMetrics({ apps: () => (last ? [last] : []) }) : undefined;
  try {
    config = loadConfig(opts);
    cluster = await connect(config, metrics?.requestObserver);
  } catch (e) {
    return reportError(e, opts.output);
  }
  const log = createLogger({ format: opts.logFormat });
  const metricsServer = await serveMetrics(opts, metrics, () => (last ? undefined : 'starting: the first reconcile has not finished'), log);
  if (metricsServer === false) return ExitCode.ERROR;
  const measured = (r: ReconcileResult): ReconcileResult => {
    last = { sync: syncOfResult(r), health: r.objects.length ? worstHealth(r.objects.map((o) => o.health)) : 'Unknown' };
    metrics?.reconciled(config.app, r);
    return r;
  };
  if (cluster.simulated) log.warn('SIMULATION: the cluster is simulated in this process; nothing reaches a real cluster');
  log.info({ app: config.app, source: `${redactUrl(config.repo)}@${config.ref ?? 'HEAD'}`, path: config.path, cluster: cluster.name },
    config.ref ? 'kgitops sync starting' : 'kgitops sync starting; no ref configured: following the remote\'s default branch (its HEAD)');
  log.info(config.approvers
    ? `approvals in git count when signed by an approver in ${[config.approvers.sshAllowedSigners, config.approvers.gpgPublicKeys].filter(Boolean).join(' and ')}`
    : 'approvals in git are off (no --approvers); approval gates open with kgitops approve');
  // The app name picks the ApplySet parent: say which one, and where a derived name comes from.
  log.info({ parent: `${config.parentNamespace}/kgitops-${config.app}` }, config.appDerived
    ? `app "${config.app}" (derived from the repo and path; --app or app: in kgitops.yaml names it)`
    : `app "${config.app}"`);
  let engine: SyncEngine | undefined;
  if (metrics) cluster = onReleaseTransitions(cluster, (e) => metrics.releaseSteps.inc({ reason: e.reason }));
  const releases = new ReleaseController({
    cluster, clock: realClock, log, requestReconcile: (reason) => engine?.trigger(reason),
    ...(metrics ? { onEvaluated: (_key, d, plan) => metrics.gatesEvaluated(plan, d) } : {}),
  });
  const source = gitSource(config, (line) => log.warn({ source: redactUrl(config.repo) }, line));
  const reconciler = new Reconciler(config, cluster, source, realClock, log, releases);
  // Repo code runs only in a sandbox: without one the engine does not start.
  try {
    const sandbox = await reconciler.sandboxFor();
    await reconciler.prewarm();
    log.info({ sandbox: sandbox.describe(config.sandbox.limits)[0] }, sandbox.isolated ? 'repo code runs in the sandbox' : 'repo code runs WITHOUT a sandbox');
  } catch (e) {
    releases.stop();
    await metricsServer?.close();
    return reportError(e, opts.output);
  }
  const controller = new AbortController();
  const stop = (sig: string) => {
    if (controller.signal.aborted) return;
    log.warn({ signal: sig }, 'stopping: finishing the requests in flight');
    controller.abort(new Error(`stopped by ${sig}`));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  if (opts.once) {
    const r = measured(await reconciler.reconcile(controller.signal));
    releases.stop();
    reconciler.close();
    await metricsServer?.close();
    printResult(r, opts.output);
    return r.result === 'Succeeded' || r.result === 'NoChange' ? ExitCode.OK : ExitCode.INVALID;
  }
  engine = new SyncEngine(reconciler, { intervalMs: config.intervalMs, clock: realClock, log, onResult: measured });
  let webhook: { close(): Promise<void> } | undefined;
  if (config.webhook) {
    const secret = process.env[config.webhook.secretEnv];
    if (!secret) {
      printFailure(`--webhook-port needs a secret in $${config.webhook.secretEnv}`, `export ${config.webhook.secretEnv} with the secret the git host signs its push webhooks with`, opts.output, 'Config');
      releases.stop();
      reconciler.close();
      await metricsServer?.close();
      return ExitCode.ERROR;
    }
    try {
      webhook = await startWebhookServer({
        port: config.webhook.port, host: config.webhook.host, secret,
        onPush: reconcileOnPush(() => source.followedRef(), (reason) => engine?.trigger(reason), log),
        log: (line) => log.info(`webhook ${line}`),
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      printFailure(`cannot serve webhooks on ${config.webhook.host}:${config.webhook.port}: ${code ?? (e as Error).message}`,
        code === 'EADDRINUSE' ? 'another process listens on that port; pick another --webhook-port' : 'check --webhook-host (an address of this host) and --webhook-port', opts.output, 'Config');
      releases.stop();
      reconciler.close();
      await metricsServer?.close();
      return ExitCode.ERROR;
    }
    log.info({ host: config.webhook.host, port: config.webhook.port }, 'push webhooks: POST /hooks/github, /hooks/gitlab, /hooks/generic');
  }
  await engine.run(controller.signal);
  releases.stop();
  reconciler.close();
  await webhook?.close();
  await metricsServer?.close();
  log.info('stopped');
  return ExitCode.OK;
}

/**
 * The webhook's onPush for an engine that follows `watchedRef`: a push that moved that ref
 * asks for a reconcile; any other push (another branch, a deletion) is logged and ignored.
 * A function is asked on every push (the default branch is known once fetched); while it says
 * undefined, every push but a deletion reconciles: a fetch that finds nothing new costs little.
 */
export function reconcileOnPush(
  watchedRef: string | (() => string | undefined),
  trigger: (reason: string) => void,
  log: { info(fields: Record<string, unknown>, message: string): void },
): (event: PushEvent) => void {
  return (event) => {
    const watched = typeof watchedRef === 'function' ? watchedRef() : watchedRef;
    const decision = watched === undefined
      ? (event.deleted ? pushDecision(event, '') : { reconcile: true as const })
      : pushDecision(event, watched);
    if (!decision.reconcile) {
      log.info({ provider: event.provider, ref: event.ref }, `webhook push ignored: ${decision.reason}`);
      return;
    }
    trigger(`${event.provider} push${event.ref ? ` to ${event.ref}` : ''}`);
  };
}

export function printResult(r: ReconcileResult, format: OutputFormat): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${r.result}: ${r.message} (${(r.durationMs / 1000).toFixed(1)} s)\n`);
  if (r.ref || r.defaultBranch) process.stdout.write(`  ${describeRef(r)}\n`);
  for (const e of r.errors) process.stdout.write(`  error: ${e.object ? `${e.object.kind} ${e.object.namespace ? `${e.object.namespace}/` : ''}${e.object.name}: ` : ''}${e.message}\n${e.hint ? `    hint: ${e.hint}\n` : ''}`);
}

/** The app's sync state after a reconcile, as its status says it (the apps gauge). */
function syncOfResult(r: ReconcileResult): string {
  if (r.result === 'Failed') return 'Failed';
  return r.result === 'Interrupted' || r.heldBack?.length ? 'OutOfSync' : 'Synced';
}
