/**
 * `kgitops diff --live`: the head against the cluster. Each object goes through the same
 * preparation as the engine's apply (ApplySet labels, desired hash, release-owned fields left
 * out) and a server-side-apply dry-run as field manager `kgitops`; the result is compared with
 * the live object, so defaults, webhooks and other managers' fields count as the cluster has
 * them. Where an aborted release keeps a workload on its previous template, git's template is
 * compared (and a warning says why they differ). Objects in the app's ApplySet inventory that the head no longer has would be pruned.
 */
import { isFleetPlan } from '../../dsl/fleet-plan.js';
import { objectRef, type RenderedObject } from '../../dsl/app.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { applySetId, parentName, readParent } from '../apply/applyset.js';
import { ApiError, TransientError, UnauthorizedError } from '../cluster/errors.js';
import { KubeCluster } from '../cluster/kube.js';
import { type Cluster, describeKey, keyOf, type KubeObject, objectId } from '../cluster/types.js';
import { startPolicies } from '../policy/host.js';
import { prepareForApply } from '../reconciler.js';
import { describeHeldBack, HELD_BACK_FIX } from '../state.js';
import { UsageError } from '../synth/run-app.js';
import { synthesize } from '../synth/index.js';
import { countChanges, type DiffResult, diffObjects } from './index.js';
import { checkoutRef, findRepo, type Side, workingTree } from './refs.js';
import { defaultCacheDir } from './run.js';

export interface DiffLiveOptions {
  readonly dir?: string;
  readonly head?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  /** The engine's app name: its ApplySet parent lists what would be pruned. */
  readonly app?: string;
  readonly namespace: string;
  readonly parentNamespace: string;
  readonly policies?: boolean;
  /** Type-check the head before it runs. @default true */
  readonly typecheck?: boolean;
  readonly timeoutMs?: number;
  readonly cacheDir?: string;
  readonly onProgress?: (message: string) => void;
  /** A cluster to use instead of loading the kubeconfig (tests). */
  readonly cluster?: Cluster;
}

/** Fields the server owns: they differ between any two reads and say nothing about the change. */
function comparable(o: KubeObject | undefined): KubeObject | undefined {
  if (!o) return undefined;
  const c = structuredClone(o) as KubeObject & { status?: unknown };
  delete c.status;
  const m = c.metadata as Record<string, unknown>;
  for (const k of ['managedFields', 'resourceVersion', 'generation', 'uid', 'creationTimestamp', 'selfLink']) delete m[k];
  return c;
}

export async function diffLive(options: DiffLiveOptions): Promise<DiffResult> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => {});
  const cluster = options.cluster ?? await loadCluster(options);
  const repo = await findRepo(options.dir ?? '.');
  const head: Side = options.head ? await checkoutRef(repo, options.head, options.cacheDir ?? defaultCacheDir(), progress) : workingTree(repo);
  let policies: ReturnType<typeof startPolicies> | undefined;
  try {
    // The repo's policies load while the head synthesizes.
    policies = options.policies === false ? undefined : startPolicies(head.appDir);
    progress(`synthesizing ${head.label} ...`);
    const h = await synthesize(head.appDir, { policies: false, typecheck: options.typecheck !== false, ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
    const parentRef = { name: parentName(options.app ?? 'default'), namespace: options.parentNamespace };
    const id = applySetId(parentRef);
    progress(`comparing ${h.objects.length} objects with the cluster (server-side apply dry-run) ...`);
    const liveObjects: RenderedObject[] = [];
    const wouldApply: RenderedObject[] = [];
    const problems: Diagnostic[] = [];
    for (const o of h.objects) {
      if (isFleetPlan(o.manifest)) continue; // the controller's plan: no cluster has it
      try {
        // Git's template, also where an aborted release keeps the previous one on the cluster:
        // that difference lasts until a new commit, and the diff shows it.
        const { manifest, release } = await prepareForApply(cluster, o.manifest as KubeObject, { id, defaultNamespace: options.namespace, releases: true, now: Date.now(), approvals: {}, declared: true });
        if (release?.heldBack) {
          problems.push({
            severity: 'warning', rule: 'release/aborted', object: objectRef(o.manifest), constructPath: o.constructPath, ...(o.source ? { source: o.source } : {}),
            message: `${describeHeldBack(release.heldBack.record)}; the engine keeps the previous template`,
            hint: HELD_BACK_FIX,
          });
        }
        const live = await cluster.get(keyOf(manifest));
        const result = await cluster.apply(manifest, { fieldManager: 'kgitops', dryRun: true });
        if (live) liveObjects.push({ ...o, manifest: comparable(live)! });
        wouldApply.push({ ...o, manifest: comparable(result)! });
      } catch (e) {
        // Every other object would fail the same way: say it once.
        if (e instanceof UnauthorizedError || (e instanceof TransientError && e.status === 0)) {
          throw new UsageError(`cannot compare with the cluster "${cluster.name}": ${e.message}`,
            e instanceof UnauthorizedError ? e.hint : 'check that the kubeconfig points at a running cluster (kubectl --kubeconfig ... get ns)');
        }
        problems.push({
          severity: 'error', rule: 'diff/live', object: objectRef(o.manifest), constructPath: o.constructPath, ...(o.source ? { source: o.source } : {}),
          message: e instanceof ApiError ? `${describeKey(keyOf(o.manifest as KubeObject))}: the dry-run failed: ${e.message}` : (e as Error).message,
          ...(e instanceof ApiError && e.hint ? { hint: e.hint } : {}),
        });
        wouldApply.push({ ...o, manifest: comparable(o.manifest as KubeObject)! });
      }
    }
    // What the ApplySet has and the head does not: the engine would prune it.
    if (options.app) {
      const parent = readParent(await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: parentRef.namespace, name: parentRef.name }));
      const wanted = new Set(wouldApply.map((o) => objectId(keyOf(o.manifest as KubeObject))));
      for (const [oid, entry] of Object.entries(parent.data.inventory)) {
        if (wanted.has(oid)) continue;
        const [gk, namespace, ...rest] = oid.split('/');
        const key = { apiVersion: entry.apiVersion, kind: gk.split('.')[0], name: rest.join('/'), ...(namespace ? { namespace } : {}) };
        const live = await cluster.get(key).catch(() => undefined);
        if (live) liveObjects.push({ manifest: comparable(live)!, chart: '', constructPath: '' });
      }
    }
    const checked = policies && h.objects.length ? await policies.check(h.objects) : undefined;
    const { objects, unchanged } = diffObjects(liveObjects, wouldApply);
    return {
      app: options.app ?? repoName(repo.path, repo.root),
      base: { label: `cluster${options.context ? ` (${options.context})` : ''}`, objects: liveObjects.length, diagnostics: [] },
      head: { label: head.label, ...(head.sha ? { sha: head.sha } : {}), objects: h.objects.length, diagnostics: [...h.diagnostics, ...problems, ...(checked?.diagnostics ?? [])] },
      objects, unchanged, counts: countChanges(objects), policies: checked?.policies ?? [],
      timings: { totalMs: Math.round(performance.now() - t0) },
    };
  } finally {
    policies?.close();
    await head.dispose();
  }
}

/**
 * Checked before anything synthesizes (KubeCluster.connect: a KubeconfigError says what is
 * wrong). A one-shot command: a few quick retries, not the engine's patient backoff.
 */
function loadCluster(o: DiffLiveOptions): Promise<Cluster> {
  return KubeCluster.connect({ kubeconfig: o.kubeconfig, context: o.context, retry: { attempts: 3, maxDelayMs: 2_000 } });
}

function repoName(path: string, root: string): string {
  return path || root.split('/').pop() || 'app';
}
