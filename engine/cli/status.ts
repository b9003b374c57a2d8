/**
 * `kgitops status`: what the engine last did (from the ApplySet parent in the cluster) and how
 * every object is doing right now (health read live).
 */
import { fleetOf } from '../fleet/commands.js';
import type { FleetStatus } from '../fleet/runner.js';
import type { Command } from 'commander';
import { LABEL_PART_OF, applySetId, type ParentState, parentName, readParent } from '../apply/applyset.js';
import { ForbiddenError, NotServedError } from '../cluster/errors.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appApplySetId } from '../controller/app-resource.js';
import { stateOfApp } from '../controller/app-state.js';
import { type Cluster, keyOf, type KubeObject, objectId } from '../cluster/types.js';
import { type ConfigFlags, loadConfig } from '../config.js';
import { assessHealth, worstHealth } from '../health/index.js';
import { type AppSource, describeHeldBack, HELD_BACK_FIX, type HistoryEntry, type ObjectStatus, type StateProblem, type StatusSnapshot } from '../state.js';
import { ANNOTATION_RELEASE_STATE, readReleaseState } from '../release/state.js';
import { describeRef, describeSource } from '../identity.js';
import { ExitCode, type OutputFormat, parseFormat, table } from './output.js';
import { addEngineOptions, connect } from './sync.js';
import { reportError } from './errors.js';

export interface ReleaseStatus {
  readonly workload: string;
  readonly id: string;
  readonly phase: string;
  readonly step: number;
  readonly steps: number;
  readonly gates: { key: string; status: string; message: string }[];
  readonly pause?: string;
  readonly approvals: { step: number; by: string; at: string; via: string }[];
  /** Set when the state annotation cannot be read: what is wrong (the release is stopped). */
  readonly problem?: string;
}

export interface AppStatus {
  readonly app: string;
  readonly cluster: string;
  readonly simulated: boolean;
  readonly status?: StatusSnapshot;
  readonly objects: ObjectStatus[];
  readonly health: string;
  readonly history: HistoryEntry[];
  readonly releases: ReleaseStatus[];
  /** The app the parent records (repo, path). */
  readonly source?: AppSource;
  /** Damaged keys of the parent, as read now (the engine repairs them on its next reconcile). */
  readonly problems: StateProblem[];
  /** The controller replica holding the App, and its shard (sharded controllers). */
  readonly heldBy?: { readonly replica: string; readonly shard: number };
  /** An App with a Fleet: its release across the clusters of its waves. */
  readonly fleet?: FleetStatus;
}

export function registerStatus(program: Command): void {
  addEngineOptions(program.command('status'))
    .description('Show the app\'s commit, sync state, per-object health and the last reconciles')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text')
    .addHelpText('after', `
Exit codes: 0 synced, 1 failed, never synced or out of sync (an aborted release keeps a workload
on its previous template until a new commit), 2 error (no usable kubeconfig, the cluster is
unreachable or refuses the credentials); with -o json an error is {"ok":false,"error":{...}}.

Health: Current, Progressing, PausedAtPartition (a partition or paused holds the update, the
allowed pods are updated and ready), Failed, Missing.`)
    .action(async (opts: ConfigFlags & { output: OutputFormat }) => {
      process.exitCode = await runStatus(opts);
    });
}

/** Reads the parent and the live members; the health is re-assessed from the live objects. */
export async function readStatus(cluster: Cluster, app: string, parentNamespace: string): Promise<AppStatus> {
  const ref = { name: parentName(app), namespace: parentNamespace };
  const parent = await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', ...ref });
  return statusFrom(cluster, app, readParent(parent), applySetId(ref));
}

/** The same for an App resource of the controller: its state is in its status. */
export async function readAppStatus(cluster: Cluster, app: AppObject): Promise<AppStatus> {
  return (await readAppStatusAndLive(cluster, app)).status;
}

/** readAppStatus, and the live members it read (the dashboard draws releases from them). */
export async function readAppStatusAndLive(cluster: Cluster, app: AppObject): Promise<{ status: AppStatus; live: KubeObject[] }> {
  const live = new Map<string, KubeObject>();
  const s = await statusFrom(cluster, `${app.metadata.namespace}/${app.metadata.name}`, stateOfApp(app), appApplySetId(app.metadata.namespace, app.metadata.name), live);
  const fleet = fleetOf(app);
  return { status: { ...s, ...(app.status?.heldBy ? { heldBy: { ...app.status.heldBy } } : {}), ...(fleet ? { fleet } : {}) }, live: [...live.values()] };
}

async function statusFrom(cluster: Cluster, app: string, state: ParentState, id: string, live = new Map<string, any>()): Promise<AppStatus> {
  const recorded = state.data.status?.objects ?? [];
  const selector = `${LABEL_PART_OF}=${id}`;
  const groups = new Map<string, { apiVersion: string; kind: string; namespaces: Set<string | undefined> }>();
  for (const o of recorded) {
    const g = groups.get(`${o.apiVersion}/${o.kind}`) ?? { apiVersion: o.apiVersion, kind: o.kind, namespaces: new Set() };
    g.namespaces.add(o.namespace);
    groups.set(`${o.apiVersion}/${o.kind}`, g);
  }
  await Promise.all([...groups.values()].flatMap((g) => [...g.namespaces].map(async (namespace) => {
    const { items } = await cluster.list(g.apiVersion, g.kind, { namespace, labelSelector: selector }).catch(() => ({ items: [] }));
    for (const item of items) live.set(objectId(keyOf(item)), item);
  })));
  const objects = recorded.map((o) => {
    const h = assessHealth(live.get(o.id));
    return { ...o, health: h.status, message: h.message };
  });
  const releases: ReleaseStatus[] = [];
  for (const o of recorded) {
    const read = readReleaseState(live.get(o.id)?.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
    const workload = `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
    if (read.problem) {
      releases.push({ workload, id: '-', phase: 'Unreadable', step: 0, steps: 0, gates: [], approvals: [], problem: `release state cannot be read: ${read.problem}` });
      continue;
    }
    const r = read.state;
    if (!r) continue;
    releases.push({
      workload: `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`, id: r.id, phase: r.phase, step: r.step + 1, steps: r.steps,
      gates: Object.entries(r.gates).map(([key, g]) => ({ key, status: g.status, message: g.message })),
      ...(r.pause ? { pause: `${r.pause.reason} (${r.pause.by}, ${r.pause.at})` } : {}),
      approvals: r.approvals.map((a) => ({ step: a.step + 1, by: a.by, at: a.at, via: a.via })),
    });
  }
  return {
    app, cluster: cluster.name, simulated: cluster.simulated, status: state.data.status, objects,
    health: objects.length ? worstHealth(objects.map((o) => o.health)) : 'Unknown', history: state.data.history, releases,
    ...(state.source ? { source: state.source } : {}), problems: state.problems,
  };
}

/** One row per App of the controller (namespace, name, commit, sync, health, release). */
export interface AppRow {
  readonly namespace: string;
  readonly name: string;
  readonly commit: string;
  readonly sync: string;
  readonly health: string;
  readonly release: string;
  readonly ready: string;
  readonly message: string;
  /** The controller replica that holds the App (sharded controllers), and its shard. */
  readonly replica?: string;
  readonly shard?: number;
}

/** The Apps of the cluster (or one namespace); undefined when the cluster serves no Apps (no controller installed). */
export async function listApps(cluster: Cluster, namespace?: string): Promise<AppObject[] | undefined> {
  try {
    return (await cluster.list(APP_API_VERSION, APP_KIND, namespace ? { namespace } : {})).items as unknown as AppObject[];
  } catch (e) {
    // No controller here, or credentials that may not list Apps: the app of `kgitops sync` it is.
    if (e instanceof NotServedError || e instanceof ForbiddenError) return undefined;
    throw e;
  }
}

export function appRow(a: AppObject): AppRow {
  const s = a.status ?? {};
  return {
    namespace: a.metadata.namespace, name: a.metadata.name, commit: s.commit ?? '-', sync: s.sync ?? 'Unknown', health: s.health ?? 'Unknown',
    release: s.release || '-', ready: s.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown', message: s.message ?? '',
    ...(s.heldBy ? { replica: s.heldBy.replica, shard: s.heldBy.shard } : {}),
  };
}

export function formatApps(rows: readonly AppRow[], simulated: boolean): string {
  // The replica column only when a sharded controller wrote one.
  const sharded = rows.some((r) => r.replica);
  const head = ['NAMESPACE', 'APP', 'COMMIT', 'SYNC', 'HEALTH', 'RELEASE', ...(sharded ? ['REPLICA'] : []), 'MESSAGE'];
  return (simulated ? 'SIMULATION: this cluster is simulated in-process\n' : '')
    + table([head, ...rows.map((r) => [r.namespace, r.name, r.commit, r.sync, r.health, r.release, ...(sharded ? [r.replica ? `${r.replica} (shard ${r.shard})` : '-'] : []), r.message.slice(0, 80)])]);
}

async function runStatus(opts: ConfigFlags & { output: OutputFormat }): Promise<number> {
  try {
    const config = loadConfig({ repo: '.', ...opts });
    const cluster = await connect(config);
    // Under the controller: no --app lists every App; --app ns/name (or -n ns --app name) shows one.
    const named = opts.app?.includes('/') ? { namespace: opts.app.split('/')[0]!, name: opts.app.split('/')[1]! } : opts.app ? { namespace: opts.namespace, name: opts.app } : undefined;
    const apps = await listApps(cluster, named?.namespace ?? opts.namespace);
    if (apps && !named && apps.length) {
      const rows = apps.map(appRow);
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ apps: rows }, null, 2)}\n`);
      else process.stdout.write(formatApps(rows, cluster.simulated));
      return rows.every((r) => r.sync === 'Synced') ? ExitCode.OK : ExitCode.INVALID;
    }
    const app = named && apps?.find((a) => a.metadata.name === named.name && (!named.namespace || a.metadata.namespace === named.namespace));
    if (app) {
      const s = await readAppStatus(cluster, app);
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      else process.stdout.write(formatStatus(s));
      return s.status?.sync === 'Synced' ? ExitCode.OK : ExitCode.INVALID;
    }
    const s = await readStatus(cluster, config.app, config.parentNamespace);
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    else process.stdout.write(formatStatus(s));
    if (!s.status) {
      process.stderr.write(`no state found: app "${config.app}" has no ConfigMap ${parentName(config.app)} in namespace ${config.parentNamespace}\n`);
      return ExitCode.INVALID;
    }
    return s.status.sync === 'Synced' ? ExitCode.OK : ExitCode.INVALID;
  } catch (e) {
    return reportError(e, opts.output);
  }
}

/** A fleet release: its waves, what each waits on, and each cluster's commit. */
export function formatFleet(f: FleetStatus): string {
  const r = f.release;
  const short = (c: string | undefined) => c?.slice(0, 12) ?? '-';
  let out = `\nfleet release ${r.id}: ${r.phase}, wave ${r.wave + 1}/${r.waves.length} (${r.waves[r.wave]?.name ?? '?'})${r.pause ? `: ${r.pause.reason}` : ''}\n`;
  const waves = r.waves.map((w, i) => {
    const state = w.doneAt ? 'done' : w.startedAt ? 'rolling out' : i === r.wave && r.phase === 'Progressing' ? 'waiting on its gates' : i < r.wave ? 'done' : 'waiting';
    const gates = Object.values(w.gates).filter((g) => g.status !== 'Passed').map((g) => `${g.status === 'Pending' ? '…' : '✗'} ${g.message}`);
    return [`${i + 1}`, w.name, state, gates.join('; ') || '-'];
  });
  out += table([['WAVE', 'NAME', 'STATE', 'GATES'], ...waves]);
  if (f.clusters.length) {
    out += `\n${table([['CLUSTER', 'WAVE', 'TARGET', 'RUNS', 'SYNC', 'HEALTH', 'WAITING ON'], ...f.clusters.map((c) => [
      c.name, c.wave ?? '-', short(c.target), short(c.commit), c.reachable ? c.sync ?? '-' : 'Unreachable', c.health ?? '-', c.waitingOn ?? '-',
    ])])}`;
  }
  for (const p of f.problems ?? []) out += `cluster problem: ${p}\n`;
  if (r.phase === 'Progressing' || r.phase === 'Paused') {
    out += `approve a wave: kgitops approve <namespace>/<app> --wave ${r.wave + 1}; pause, resume, abort: kgitops <command> <namespace>/<app> --fleet\n`;
  }
  return out;
}

export function formatStatus(s: AppStatus): string {
  const st = s.status;
  let out = s.simulated ? 'SIMULATION: this cluster is simulated in-process\n' : '';
  out += table([
    ['APP', 'CLUSTER', 'COMMIT', 'SYNC', 'HEALTH', 'MESSAGE'],
    [s.app, s.cluster, st?.appliedCommit?.slice(0, 12) ?? '-', st?.sync ?? 'Unknown', s.health, st?.message ?? 'never synced'],
  ]);
  if (s.source) out += `source: ${describeSource(s.source)}\n`;
  if (s.heldBy) out += `held by: controller replica ${s.heldBy.replica} (shard ${s.heldBy.shard})\n`;
  if (st?.ref || st?.defaultBranch) out += `ref: ${describeRef(st)}\n`;
  for (const p of s.problems) out += `damaged state: ${p.message}\n  fix: ${p.fix}\n`;
  if (st?.attemptedCommit && st.attemptedCommit !== st.appliedCommit) out += `last attempt: commit ${st.attemptedCommit.slice(0, 12)}\n`;
  for (const e of st?.errors ?? []) out += `error: ${e.object ? `${e.object.kind} ${e.object.name}: ` : ''}${e.message}\n`;
  for (const w of st?.warnings ?? []) out += `warning: ${w.message}\n`;
  for (const h of st?.heldBack ?? []) out += `held back: ${describeHeldBack(h)}\n`;
  if (st?.heldBack?.length) out += `  fix: ${HELD_BACK_FIX}; kgitops diff --live shows the difference\n`;
  if (s.fleet) out += formatFleet(s.fleet);
  if (s.objects.length) {
    out += `\n${table([['KIND', 'NAMESPACE', 'NAME', 'HEALTH', 'MESSAGE'], ...s.objects.map((o) => [o.kind, o.namespace ?? '-', o.name, o.health, o.message])])}`;
  }
  if (s.releases.length) {
    out += `\n${table([['RELEASE', 'WORKLOAD', 'PHASE', 'STEP', 'GATES'], ...s.releases.map((r) => [
      r.id, r.workload, r.phase, r.problem ? '-' : `${r.step}/${r.steps}`,
      r.problem ?? r.pause ?? (r.gates.map((g) => `${g.status === 'Passed' ? '✓' : g.status === 'Pending' ? '…' : '✗'} ${g.message}`).join('; ') || '-'),
    ])])}`;
  }
  if (s.history.length) {
    out += `\n${table([['TIME', 'COMMIT', 'RESULT', 'DURATION', 'CHANGES'], ...s.history.map((h) => [
      h.time.replace('T', ' ').slice(0, 19), h.commit.slice(0, 12), h.result + (h.historyRewritten ? ' (history rewritten)' : ''),
      `${(h.durationMs / 1000).toFixed(1)} s`,
      `+${h.changes.created} ~${h.changes.updated} -${h.changes.pruned}${h.changes.driftCorrected ? ` drift ${h.changes.driftCorrected}` : ''}`,
    ])])}`;
  }
  return out;
}
