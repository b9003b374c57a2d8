/** `kgitops install`: the controller's own manifests, for `kgitops install --image ... | kubectl apply -f -`. */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { formatDiagnostic } from '../../dsl/diagnostics.js';
import { installObjects } from '../install/manifests.js';
import { ExitCode } from './output.js';
import { printFailure } from './errors.js';

export function registerInstall(program: Command): void {
  program.command('install')
    .description('Print the controller\'s manifests: the App CRD, namespace, ServiceAccount, least-privilege RBAC, Deployment and webhook Service')
    .requiredOption('--image <ref>', 'the controller image (build it from the Dockerfile elsewhere: these machines cannot build images)')
    .option('--namespace <ns>', 'the controller\'s namespace', 'kgitops-system')
    .option('--default-service-account <name>', 'the ServiceAccount (in each App\'s namespace) of Apps that name none')
    .option('--webhook-secret-name <name>', 'a Secret in the controller\'s namespace whose key `secret` signs push webhooks')
    .option('-o, --output <format>', 'yaml or json (a List)', 'yaml')
    .addHelpText('after', `
Examples:
  kgitops install --image registry.example.com/kgitops:0.1.0 | kubectl apply --server-side -f -
  kgitops install --image ... --default-service-account deployer -o json

The manifests are synthesized with kruise-gitops's own DSL and validated against the Kubernetes
schemas like any app. The ClusterRole holds only what the controller does as itself: Apps and
their status, Events, Leases, and impersonating ServiceAccounts; everything of a tenant is read
and written as the tenant's ServiceAccount.`)
    .action((opts: { image: string; namespace: string; defaultServiceAccount?: string; webhookSecretName?: string; output: string }) => {
      if (opts.output !== 'yaml' && opts.output !== 'json') {
        printFailure(`-o ${opts.output}: expected yaml or json`, undefined, 'text', 'Usage');
        process.exitCode = ExitCode.ERROR;
        return;
      }
      const { objects, diagnostics } = installObjects(opts);
      const errors = diagnostics.filter((d) => d.severity === 'error');
      if (errors.length) {
        // A bug of kgitops, not of the user: the manifests it ships must validate.
        process.stderr.write(`${errors.map(formatDiagnostic).join('\n')}\n`);
        process.exitCode = ExitCode.INVALID;
        return;
      }
      const manifests = objects.map((o) => o.manifest);
      process.stdout.write(opts.output === 'json'
        ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }, null, 2)}\n`
        : manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n'));
    });
}
