/** `kgitops controller`: reconcile every App resource of the cluster, each as its own ServiceAccount. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { KubeCluster } from '../cluster/kube.js';
import type { Cluster } from '../cluster/types.js';
import { realClock } from '../clock.js';
import { ConfigError, sandboxConfig } from '../config.js';
import { Controller } from '../controller/controller.js';
import { createLogger, type LogFormat } from '../log.js';
import { DEFAULT_WEBHOOK_HOST, startWebhookServer } from '../source/webhook.js';
import { ExitCode } from './output.js';
import { addSandboxOptions, type SandboxFlags } from './sandbox.js';
import { printFailure, reportError } from './errors.js';

export interface ControllerFlags extends SandboxFlags {
  kubeconfig?: string;
  context?: string;
  simulate?: boolean;
  namespace?: string;
  defaultServiceAccount?: string;
  allowControllerIdentity?: boolean;
  allowLocalRepos?: boolean;
  concurrency?: string;
  cacheDir?: string;
  webhookPort?: string;
  webhookHost?: string;
  typecheck?: boolean;
  logFormat: LogFormat;
}

export function registerController(program: Command): void {
  addSandboxOptions(program.command('controller'))
    .description('Reconcile every App (apps.kgitops.io) in the cluster: each from its repo, as its own ServiceAccount')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option('--simulate', 'run against the built-in simulated cluster (no RBAC there)')
    .option('-n, --namespace <ns>', 'watch Apps in this namespace only (default: every namespace)')
    .option('--default-service-account <name>', 'ServiceAccount (in each App\'s namespace) of Apps that name none')
    .option('--allow-controller-identity', 'let Apps that name no ServiceAccount act as the controller itself (single-tenant clusters only)')
    .option('--allow-local-repos', 'let Apps name a repo by a path on the controller\'s disk (tests and demos only)')
    .option('--concurrency <n>', 'Apps reconciled at once (default: the number of cores)')
    .option('--cache-dir <dir>', 'where git mirrors, checkouts and dependencies are cached')
    .option('--no-typecheck', 'do not type-check each commit\'s app before running it')
    .option('--webhook-port <port>', 'serve push webhooks for every App on this port (/hooks/github, /hooks/gitlab, /hooks/generic)')
    .option('--webhook-host <addr>', `address the webhooks listen on (default ${DEFAULT_WEBHOOK_HOST}; 0.0.0.0 in a pod)`)
    .option('--log-format <format>', 'text or json', 'text')
    .addHelpText('after', `
Apps are namespaced: the namespace is the tenant. Every read and write of an App's objects
impersonates its spec.serviceAccountName (or --default-service-account), so RBAC decides what a
commit may do; an App that names none fails unless --allow-controller-identity is given.
State lives in each App's status (inventory, history, conditions Ready/Reconciling/Stalled):

  kubectl get apps.kgitops.io -A
  kubectl wait --for=condition=Ready apps.kgitops.io/shop -n team-a

Install the CRD and the controller's RBAC with: kgitops install | kubectl apply -f -
The webhook secret is read from KGITOPS_WEBHOOK_SECRET; it is never logged.`)
    .action(async (opts: ControllerFlags) => {
      process.exitCode = await runController(opts);
    });
}

async function runController(opts: ControllerFlags): Promise<number> {
  const log = createLogger({ format: opts.logFormat });
  let cluster: Cluster;
  let concurrency: number | undefined;
  try {
    if (opts.concurrency !== undefined) {
      concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`--concurrency: "${opts.concurrency}" is not a positive whole number`, 'e.g. --concurrency 4');
    }
    if (opts.simulate) {
      const { SimCluster } = await import('../cluster/sim/index.js');
      cluster = new SimCluster({ clock: realClock });
      log.warn('SIMULATION: the cluster is simulated in this process; nothing reaches a real cluster, and RBAC is not enforced');
    } else {
      cluster = await KubeCluster.connect({ kubeconfig: opts.kubeconfig, context: opts.context, component: 'kgitops-controller' });
    }
  } catch (e) {
    return reportError(e);
  }
  const controller = new Controller({
    cluster, clock: realClock, log,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    ...(opts.defaultServiceAccount ? { defaultServiceAccount: opts.defaultServiceAccount } : {}),
    allowControllerIdentity: !!opts.allowControllerIdentity, allowLocalRepos: !!opts.allowLocalRepos,
    ...(concurrency ? { concurrency } : {}),
    cacheDir: opts.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kruise-gitops', 'controller'),
    sandbox: sandboxConfig(undefined, opts), typecheck: opts.typecheck !== false,
  });
  let webhook: { close(): Promise<void> } | undefined;
  if (opts.webhookPort !== undefined) {
    const secret = process.env.KGITOPS_WEBHOOK_SECRET;
    if (!secret) {
      printFailure('--webhook-port needs a secret in $KGITOPS_WEBHOOK_SECRET', 'export KGITOPS_WEBHOOK_SECRET with the secret the git host signs its push webhooks with', 'text', 'Config');
      return ExitCode.ERROR;
    }
    try {
      webhook = await startWebhookServer({
        port: Number(opts.webhookPort), host: opts.webhookHost ?? DEFAULT_WEBHOOK_HOST, secret,
        onPush: (event) => void controller.onPush(event), log: (line) => log.info(`webhook ${line}`),
      });
    } catch (e) {
      printFailure(`cannot serve webhooks on port ${opts.webhookPort}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'pick another --webhook-port', 'text', 'Config');
      return ExitCode.ERROR;
    }
  }
  const stop = (sig: string) => {
    log.warn({ signal: sig }, 'stopping: finishing the requests in flight');
    void controller.stop();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  log.info({ cluster: cluster.name, namespace: opts.namespace ?? '(all)', defaultServiceAccount: opts.defaultServiceAccount ?? '(none)' }, 'kgitops controller starting');
  try {
    await controller.run();
  } catch (e) {
    await webhook?.close();
    return reportError(e);
  }
  await webhook?.close();
  log.info('stopped');
  return ExitCode.OK;
}
