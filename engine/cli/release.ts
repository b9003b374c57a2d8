/**
 * Release commands: `kgitops preview` (the plan as it would run) and `kgitops approve | pause |
 * resume | abort <app>/<workload>` (commands for the release in progress, carried out by the
 * engine and recorded with who and when).
 */
import { type Command, Option } from 'commander';
import { ApiError } from '../cluster/errors.js';
import { parentName, readParent } from '../apply/applyset.js';
import { ForbiddenError, NotServedError } from '../cluster/errors.js';
import { APP_API_VERSION, APP_KIND, type AppObject } from '../controller/app-resource.js';
import { stateOfApp } from '../controller/app-state.js';
import type { Cluster, ObjectKey } from '../cluster/types.js';
import { type ConfigFlags, loadConfig } from '../config.js';
import { CommandError, issueCommand } from '../release/commands.js';
import { issueFleetCommand } from '../fleet/commands.js';
import { listClusters, resolveWaves } from '../fleet/clusters.js';
import { type FleetPlanSpec, isFleetPlan } from '../../dsl/fleet-plan.js';
import { describeGate } from '../release/machine.js';
import { releaseKind } from '../release/plan.js';
import { formatPreview, previewRelease, type ReleasePreview, scaleFromSpec } from '../release/preview.js';
import { scaleOf } from '../release/plan.js';
import { synthesize } from '../synth/index.js';
import { ExitCode, type OutputFormat, parseFormat, printDiagnostics, progress } from './output.js';
import { addEngineOptions, connect } from './sync.js';
import { addSandboxOptions, type SandboxFlags, sandboxFromFlags } from './sandbox.js';
import { isAccessError, printFailure, reportError } from './errors.js';

/**
 * Finds `<workload>` among the app's managed objects: from the App resource `<namespace>/<app>`
 * when the controller manages it, else from the ApplySet parent of `kgitops sync`.
 */
async function findWorkload(cluster: Cluster, app: string, parentNamespace: string, workload: string): Promise<ObjectKey> {
  const resource = await cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: parentNamespace, name: app }).catch((e) => {
    if (e instanceof NotServedError || e instanceof ForbiddenError) return undefined;
    throw e;
  }) as AppObject | undefined;
  const parent = resource ? undefined : await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', name: parentName(app), namespace: parentNamespace });
  if (!resource && !parent) {
    throw new CommandError(`app "${app}" is not synced here: no App ${parentNamespace}/${app} and no ConfigMap ${parentName(app)} in namespace ${parentNamespace}`,
      'address it as <namespace>/<app>/<workload> (or pass -n with the namespace of the App, or of the ConfigMap kgitops sync keeps)');
  }
  const objects = (resource ? stateOfApp(resource) : readParent(parent)).data.status?.objects ?? [];
  const found = objects.filter((o) => o.name === workload && releaseKind(o));
  if (found.length === 0) {
    const names = objects.filter((o) => releaseKind(o)).map((o) => o.name);
    throw new CommandError(`app "${app}" has no workload "${workload}" that releases can drive`, names.length ? `its workloads: ${names.join(', ')}` : undefined);
  }
  if (found.length > 1) throw new CommandError(`"${workload}" is ambiguous: ${found.map((o) => `${o.kind} ${o.namespace ?? ''}/${o.name}`).join(', ')}`);
  const o = found[0];
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) };
}

function registerCommand(program: Command, action: 'approve' | 'pause' | 'resume' | 'abort', description: string, extra = ''): void {
  const cmd = addEngineOptions(program.command(action))
    .argument('<[namespace/]app/workload>', 'e.g. shop/storefront, or team-a/shop/storefront for an App of the controller')
    .description(description)
    // Kept only to refuse it with a reason (the approver is who the cluster says you are).
    .addOption(new Option('--by <name>').hideHelp())
    .option('--note <text>', 'a remark recorded with the command (who gave it is what the cluster says your credentials are)')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text');
  if (action === 'approve') {
    cmd.option('--step <n>', 'step number to approve, from 1 (default: the current step)');
    cmd.option('--wave <n>', 'a fleet: approve wave n (from 1) of the App\'s fleet release; the target is then [namespace/]app');
  }
  cmd.option('--fleet', `the App's fleet release, not a workload's: the target is [namespace/]app${action === 'approve' ? ' (implied by --wave)' : ''}`);
  cmd.addHelpText('after', `${extra}
The engine carries the command out on its next look at the workload (a watch: at once) and records
it in the release's state, with who and when. Who is the user the cluster authenticates your
kubeconfig's credentials as (a SelfSubjectReview), e.g. system:serviceaccount:ci:deployer.
Exit codes: 0 done, 1 refused (e.g. no release in progress, a webhook refused), 2 usage error, or a
kubeconfig or credentials that cannot be used (none found, unreachable, 401, 403).`);
  cmd.action(async (target: string, opts: ConfigFlags & { by?: string; note?: string; step?: string; wave?: string; fleet?: boolean; output: OutputFormat }) => {
    process.exitCode = opts.fleet || opts.wave !== undefined ? await runFleetCommand(action, target, opts) : await runCommand(action, target, opts);
  });
}

/** The same for a fleet release: `<[namespace/]app> --wave n` or `--fleet`. */
async function runFleetCommand(action: 'approve' | 'pause' | 'resume' | 'abort', target: string, opts: ConfigFlags & { by?: string; note?: string; step?: string; wave?: string; output: OutputFormat }): Promise<number> {
  const parts = target.split('/');
  const [namespace, app] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (!app || parts.length > 2 || namespace === '') {
    printFailure(`a fleet command takes [<namespace>/]<app>, e.g. team-a/shop, got "${target}"`, undefined, opts.output, 'Usage');
    return ExitCode.ERROR;
  }
  if (opts.by !== undefined || opts.step !== undefined) {
    printFailure(opts.by !== undefined ? '--by is not accepted: the approver recorded is who the cluster says you are' : '--step is for a workload\'s release; a fleet has waves (--wave)', undefined, opts.output, 'Usage');
    return ExitCode.ERROR;
  }
  try {
    const config = loadConfig({ repo: '.', ...opts, app, ...(namespace ? { namespace, parentNamespace: namespace } : {}) });
    const wave = opts.wave !== undefined ? Number(opts.wave) - 1 : undefined;
    if (wave !== undefined && !(Number.isInteger(wave) && wave >= 0)) throw new CommandError(`--wave must be a wave number from 1, got ${opts.wave}`);
    const cluster = await connect(config);
    const { state, by } = await issueFleetCommand(cluster, { namespace: config.parentNamespace, name: app }, { action, ...(wave !== undefined ? { wave } : {}), ...(opts.note ? { note: opts.note } : {}) }, Date.now());
    const n = (wave ?? state.wave) + 1;
    const what = action === 'approve' ? `approved wave ${n} (${state.waves[n - 1]?.name}) of` : action === 'abort' ? 'asked to abort' : `${action}d`;
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ release: state.id, action, by: by.username, ...(action === 'approve' ? { wave: n } : {}) })}\n`);
    else process.stdout.write(`${what} fleet release ${state.id} (by ${by.username}); the controller carries it out on its next pass and records it\n`);
    return ExitCode.OK;
  } catch (e) {
    if ((e instanceof CommandError || e instanceof ApiError) && !isAccessError(e)) {
      printFailure(e.message, e.hint, opts.output, e instanceof ApiError ? e.reason : 'Refused');
      return ExitCode.INVALID;
    }
    return reportError(e, opts.output);
  }
}

async function runCommand(action: 'approve' | 'pause' | 'resume' | 'abort', target: string, opts: ConfigFlags & { by?: string; note?: string; step?: string; output: OutputFormat }): Promise<number> {
  const parts = target.split('/');
  const [namespace, app, workload] = parts.length === 3 ? parts : [undefined, parts[0], parts[1]];
  if (!app || !workload || parts.length > 3 || namespace === '') {
    printFailure(`expected [<namespace>/]<app>/<workload>, e.g. shop/storefront or team-a/shop/storefront, got "${target}"`, undefined, opts.output, 'Usage');
    return ExitCode.ERROR;
  }
  if (opts.by !== undefined) {
    printFailure('--by is not accepted: the approver recorded is who the cluster says you are (your kubeconfig\'s credentials, asked with a SelfSubjectReview), not a name given on the command line',
      'to act as someone else, use their credentials (--kubeconfig, --context); to add a remark, use --note', opts.output, 'Usage');
    return ExitCode.ERROR;
  }
  try {
    const config = loadConfig({ repo: '.', ...opts, app, ...(namespace ? { namespace, parentNamespace: namespace } : {}) });
    const cluster = await connect(config);
    const key = await findWorkload(cluster, app, config.parentNamespace, workload);
    const step = opts.step !== undefined ? Number(opts.step) - 1 : undefined;
    if (step !== undefined && !(Number.isInteger(step) && step >= 0)) throw new CommandError(`--step must be a step number from 1, got ${opts.step}`);
    const { state, by, dropped } = await issueCommand(cluster, key, { action, ...(step !== undefined ? { step } : {}), ...(opts.note ? { note: opts.note } : {}) }, Date.now());
    if (dropped) {
      process.stderr.write(`warning: dropped ${dropped} command(s) for release ${state.id} that were not written by kgitops (the engine ignores those)\n`);
    }
    const what = action === 'approve' ? `approved step ${(step ?? state.step) + 1} of` : action === 'abort' ? 'asked to abort' : `${action}d`;
    const as = `${by.username}${by.simulated ? ', a simulated identity' : ''}`;
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ release: state.id, action, by: by.username, step: (step ?? state.step) + 1, ...(by.simulated ? { simulated: true } : {}) })}\n`);
    else process.stdout.write(`${what} release ${state.id} (by ${as}, as the cluster ${cluster.name} authenticates you); the engine carries it out and records it\n`);
    return ExitCode.OK;
  } catch (e) {
    // Refused (no release in progress, a webhook or quota said no): 1. Credentials that do not
    // reach or may not act on the cluster, bad flags, a crash: 2.
    if ((e instanceof CommandError || e instanceof ApiError) && !isAccessError(e)) {
      printFailure(e.message, e.hint, opts.output, e instanceof ApiError ? e.reason : 'Refused');
      return ExitCode.INVALID;
    }
    return reportError(e, opts.output);
  }
}

export function registerRelease(program: Command): void {
  registerCommand(program, 'approve', 'Approve a step of the release in progress (an approval gate), or accept a paused inconclusive measurement');
  registerCommand(program, 'pause', 'Pause the release in progress (updateStrategy.paused)');
  registerCommand(program, 'resume', 'Resume a paused release (failed or inconclusive measurements are taken again)');
  registerCommand(program, 'abort', 'Abort the release in progress: every pod goes back to the previous template',
    '\nThe new template stays off the workload until git changes it again (revert or fix the commit).\n');

  addSandboxOptions(program.command('preview'))
    .argument('[dir]', 'directory with cdk8s.yaml', '.')
    .description('Print the release plan of each workload as it would run: steps, pods per step (Kruise rounding), gates, least wall time')
    .option('--nodes <n>', 'DaemonSets: nodes to assume')
    .option('--matched-pods <n>', 'SidecarSets: matched pods to assume')
    .option('--kubeconfig <file>', 'read the current scale (replicas, nodes, matched pods) from this cluster, and a fleet\'s clusters from its Secrets')
    .option('--clusters-namespace <ns>', 'a fleet: where the cluster Secrets are in the --kubeconfig cluster', 'kgitops-system')
    .option('--context <name>', 'kubeconfig context')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text')
    .option('--no-typecheck', 'do not type-check the app before running it')
    .action(async (dir: string, opts: { nodes?: string; matchedPods?: string; kubeconfig?: string; context?: string; output: OutputFormat; typecheck: boolean } & SandboxFlags) => {
      sandboxFromFlags(opts);
      process.exitCode = await runPreview(dir, opts);
    });
}

/**
 * A fleet's waves in order, each with its gates and its clusters: from the cluster Secrets of
 * the management cluster when there is one (--kubeconfig), else the selectors as written.
 */
async function formatFleetPlan(plan: FleetPlanSpec, cluster: Cluster | undefined, namespace: string): Promise<string> {
  const registered = cluster ? await listClusters(cluster, namespace).catch(() => undefined) : undefined;
  const waves = registered ? resolveWaves(plan, registered.clusters) : undefined;
  const lines = [`fleet: ${plan.waves.length} wave(s), each after the one before is synced, healthy and released${registered ? ` (clusters: the Secrets labelled kgitops.io/cluster in ${cluster!.name}/${namespace})` : ' (pass --kubeconfig of the management cluster to see which clusters)'}`];
  plan.waves.forEach((w, i) => {
    const selector = w.clusters.names ? `clusters ${w.clusters.names.join(', ')}` : `clusters labelled ${Object.entries(w.clusters.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`;
    const members = waves ? `: ${waves[i]!.members.join(', ') || 'no registered cluster'}${waves[i]!.missing.length ? ` (not registered: ${waves[i]!.missing.join(', ')})` : ''}` : '';
    lines.push(`  wave ${i + 1} ${w.name}: ${selector}${members}${w.maxParallel ? `, ${w.maxParallel} at a time` : ''}`);
    lines.push(`    after: ${w.gates.map(describeGate).join(', ') || (i === 0 ? 'the commit' : 'the wave before')}`);
  });
  if (registered?.problems.length) lines.push(...registered.problems.map((p) => `  cluster problem: ${p.message}`));
  return `${lines.join('\n')}\n`;
}

async function runPreview(dir: string, opts: { nodes?: string; matchedPods?: string; kubeconfig?: string; context?: string; clustersNamespace?: string; output: OutputFormat; typecheck?: boolean }): Promise<number> {
  try {
    // The cluster first: a kubeconfig that cannot be used is said before a synth that takes seconds.
    const cluster = opts.kubeconfig ? await connect(loadConfig({ repo: '.', kubeconfig: opts.kubeconfig, context: opts.context })) : undefined;
    progress(`synthesizing ${dir} ...`);
    // A preview reads the plans; policies judge the commit, which `synth` and `diff` report.
    const r = await synthesize(dir, { policies: false, typecheck: opts.typecheck !== false });
    if (!r.ok) {
      printDiagnostics(r.diagnostics.filter((d) => d.severity === 'error'));
      process.stderr.write('invalid: fix the errors above to preview releases\n');
      return ExitCode.INVALID;
    }
    const previews: ReleasePreview[] = [];
    for (const o of r.objects) {
      const m = o.manifest as any;
      if (!releaseKind(m) || !m.metadata?.annotations?.['kgitops.io/release-plan']) continue;
      let { scale, source } = scaleFromSpec(m, { nodes: opts.nodes ? Number(opts.nodes) : undefined, matchedPods: opts.matchedPods ? Number(opts.matchedPods) : undefined });
      if (cluster) {
        const live = await cluster.get({ apiVersion: m.apiVersion, kind: m.kind, name: m.metadata.name, ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}) });
        if (live?.status) ({ scale, source } = { scale: scaleOf(live), source: `the cluster ${cluster.name}` });
      }
      previews.push(previewRelease(m, scale, source)!);
    }
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify(previews, null, 2)}\n`);
    else {
      process.stdout.write(previews.length ? previews.map(formatPreview).join('\n') : 'no workload has a release plan\n');
      const fleet = r.objects.find((o) => isFleetPlan(o.manifest));
      if (fleet) process.stdout.write(`\n${await formatFleetPlan(fleet.manifest.spec as FleetPlanSpec, cluster, opts.clustersNamespace ?? 'kgitops-system')}`);
    }
    return ExitCode.OK;
  } catch (e) {
    return reportError(e, opts.output);
  }
}
