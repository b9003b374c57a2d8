/**
 * Release plans applied to a workload: which partition each step writes, how many pods that
 * updates at a given scale (with Kruise's rounding), and what "the release's revision" is. The
 * engine, `kgitops preview` and the simulated cluster all use these functions: one model of
 * Kruise arithmetic.
 *
 *   CloneSet, SidecarSet   percent partitions keep ceil(p%) pods old (never all, unless 100%)
 *   Advanced DaemonSet     percent partitions keep floor(p%) of desiredNumberScheduled old
 *   Advanced StatefulSet   integer partitions: ordinals >= partition are updated
 *   UnitedDeployment       an integer partition per subset
 */
import { createHash } from 'node:crypto';
import { cloneSetPartitionKeep, daemonSetPartitionKeep, type IntOrPercent, parseIntOrPercent } from '../../dsl/arithmetic.js';
import { ANNOTATION_RELEASE_PLAN, type ReleasePlanSpec, type StepSpec, validateReleasePlan } from '../../dsl/release.js';
import type { KubeObject } from '../cluster/types.js';
import { stableStringify } from '../apply/applyset.js';

export type ReleaseKind = 'CloneSet' | 'StatefulSet' | 'DaemonSet' | 'SidecarSet' | 'UnitedDeployment';

/** Annotation (owned by the git field manager) naming the revision of the template git applied. */
export const ANNOTATION_TEMPLATE_REVISION = 'kgitops.io/template-revision';

export function releaseKind(o: { apiVersion: string; kind: string }): ReleaseKind | undefined {
  if (!o.apiVersion.startsWith('apps.kruise.io/')) return undefined;
  return (['CloneSet', 'StatefulSet', 'DaemonSet', 'SidecarSet', 'UnitedDeployment'] as const).find((k) => k === o.kind);
}

/** The parts of a workload a release rolls out: the pod template, or a SidecarSet's sidecars. */
export function rolloutParts(o: KubeObject): unknown {
  const kind = releaseKind(o);
  if (kind === 'SidecarSet') return { containers: o.spec?.containers, initContainers: o.spec?.initContainers, volumes: o.spec?.volumes };
  return o.spec?.template;
}

/** The images of a workload's pod template (a UnitedDeployment's subset template), init containers first. */
export function templateImages(o: KubeObject): string[] {
  const t = o.spec?.template ?? {};
  const sub = t.cloneSetTemplate ?? t.advancedStatefulSetTemplate ?? t.statefulSetTemplate ?? t.deploymentTemplate;
  const spec = (sub ? sub.spec?.template?.spec : t.spec) as { containers?: { image?: string }[]; initContainers?: { image?: string }[] } | undefined;
  return [...new Set([...spec?.initContainers ?? [], ...spec?.containers ?? []].map((c) => c.image).filter((i): i is string => !!i))];
}

/** Content hash of the rollout parts: the release's revision. */
export function revisionOf(o: KubeObject): string {
  return createHash('sha256').update(stableStringify(rolloutParts(o) ?? null)).digest('hex').slice(0, 10);
}

export function releaseId(o: KubeObject, revision: string): string {
  return `${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}@${revision}`;
}

/** The plan attached to a (desired) workload, or undefined; throws with every problem if invalid. */
export function readPlan(o: KubeObject): ReleasePlanSpec | undefined {
  const raw = o.metadata.annotations?.[ANNOTATION_RELEASE_PLAN];
  if (raw === undefined) return undefined;
  let plan: unknown;
  try {
    plan = JSON.parse(raw);
  } catch (e) {
    throw new Error(`annotation ${ANNOTATION_RELEASE_PLAN} is not JSON: ${(e as Error).message}`);
  }
  const problems = validateReleasePlan(plan, o.kind, subsetNames(o));
  if (problems.length) throw new Error(`invalid release plan: ${problems.map((p) => `${p.path ? `${p.path}: ` : ''}${p.message}`).join('; ')}`);
  return plan as ReleasePlanSpec;
}

export function subsetNames(o: KubeObject): string[] {
  return (o.spec?.topology?.subsets ?? []).map((s: { name: string }) => s.name);
}

/** How big the workload is, as each kind counts it. */
export interface Scale {
  /** Pods (CloneSet, StatefulSet), scheduled nodes (DaemonSet) or matched pods (SidecarSet). */
  readonly total: number;
  /** UnitedDeployment: pods per subset. */
  readonly subsets?: Record<string, number>;
}

/** The scale as the cluster reports it (falling back to the spec). */
export function scaleOf(live: KubeObject): Scale {
  switch (releaseKind(live)) {
    case 'DaemonSet': return { total: live.status?.desiredNumberScheduled ?? 0 };
    case 'SidecarSet': return { total: live.status?.matchedPods ?? 0 };
    case 'UnitedDeployment': {
      const subsets: Record<string, number> = { ...(live.status?.subsetReplicas ?? {}) };
      for (const n of subsetNames(live)) subsets[n] ??= 0;
      return { total: Object.values(subsets).reduce((a, b) => a + b, 0), subsets };
    }
    default: return { total: live.spec?.replicas ?? 1 };
  }
}

function updatedOf(target: IntOrPercent | string, total: number, roundUp: boolean): number {
  const p = parseIntOrPercent(target)!;
  if (p.kind === 'int') return Math.max(0, Math.min(p.value, total));
  const exact = (p.value * total) / 100;
  return Math.max(0, Math.min(roundUp ? Math.ceil(exact) : Math.floor(exact), total));
}

/** The partition value written for a step (pods kept at the old revision). */
export type PartitionValue = number | string | Record<string, number>;

function keepPercent(target: string): string {
  return `${100 - Number(target.slice(0, -1))}%`;
}

/** Partition that keeps every pod at the old revision: what a release starts with. */
export function holdPartition(kind: ReleaseKind, scale: Scale): PartitionValue {
  switch (kind) {
    case 'StatefulSet': return scale.total;
    case 'UnitedDeployment': return { ...scale.subsets };
    default: return '100%';
  }
}

/** The partition a step writes. Percent targets stay percentages where Kruise accepts them. */
export function stepPartition(kind: ReleaseKind, step: StepSpec, scale: Scale, previous?: PartitionValue): PartitionValue {
  const t = step.target;
  switch (kind) {
    case 'CloneSet':
    case 'SidecarSet':
    case 'DaemonSet':
      return typeof t === 'string' && t.endsWith('%') ? keepPercent(t) : Math.max(0, scale.total - Number(t));
    case 'StatefulSet':
      return scale.total - updatedOf(t!, scale.total, true);
    case 'UnitedDeployment': {
      const out: Record<string, number> = { ...(previous as Record<string, number> | undefined) };
      for (const [subset, size] of Object.entries(scale.subsets ?? {})) {
        const st = t ?? step.subsets?.[subset];
        if (st === undefined) { out[subset] ??= size; continue; }
        out[subset] = size - updatedOf(st, size, true);
      }
      return out;
    }
  }
}

/** Pods updated once a partition is fully rolled out, at this scale (Kruise's rounding). */
export function expectedUpdated(kind: ReleaseKind, partition: PartitionValue, scale: Scale): number {
  switch (kind) {
    case 'CloneSet':
    case 'SidecarSet':
      return scale.total - cloneSetPartitionKeep(partition as IntOrPercent, scale.total);
    case 'DaemonSet':
      return scale.total - daemonSetPartitionKeep(partition as IntOrPercent, scale.total);
    case 'StatefulSet':
      return scale.total - Math.max(0, Math.min(Number(partition), scale.total));
    case 'UnitedDeployment': {
      const p = partition as Record<string, number>;
      return Object.entries(scale.subsets ?? {}).reduce((sum, [s, size]) => sum + size - Math.max(0, Math.min(p[s] ?? 0, size)), 0);
    }
  }
}

/** Where each kind keeps its partition and paused flags. */
export function strategyPaths(kind: ReleaseKind): { partition: string[]; paused?: string[] } {
  switch (kind) {
    case 'CloneSet':
    case 'SidecarSet':
      return { partition: ['spec', 'updateStrategy', 'partition'], paused: ['spec', 'updateStrategy', 'paused'] };
    case 'StatefulSet':
    case 'DaemonSet':
      return { partition: ['spec', 'updateStrategy', 'rollingUpdate', 'partition'], paused: ['spec', 'updateStrategy', 'rollingUpdate', 'paused'] };
    case 'UnitedDeployment':
      // A UnitedDeployment has no paused flag: pausing holds the partitions where they are.
      return { partition: ['spec', 'updateStrategy', 'manualUpdate', 'partitions'] };
  }
}

export function getPath(o: unknown, path: string[]): unknown {
  return path.reduce<any>((x, k) => (x === undefined || x === null ? undefined : x[k]), o);
}

/** Sets a nested value, creating objects on the way (on a copy's branch). */
export function setPath(o: Record<string, any>, path: string[], value: unknown): void {
  let x = o;
  for (const k of path.slice(0, -1)) x = x[k] = { ...(x[k] ?? {}) };
  x[path[path.length - 1]] = value;
}

/** Removes partition and paused from a manifest: for release-managed workloads the release owns them. */
export function withoutReleaseFields(o: KubeObject, kind: ReleaseKind): KubeObject {
  const copy = structuredClone(o);
  const paths = strategyPaths(kind);
  for (const p of [paths.partition, paths.paused].filter((x): x is string[] => !!x)) {
    const parent = getPath(copy, p.slice(0, -1)) as Record<string, unknown> | undefined;
    if (parent && typeof parent === 'object') delete parent[p[p.length - 1]];
  }
  // UnitedDeployment: updateStrategy.manualUpdate without partitions is noise.
  if (kind === 'UnitedDeployment' && copy.spec?.updateStrategy?.manualUpdate && Object.keys(copy.spec.updateStrategy.manualUpdate).length === 0) {
    delete copy.spec.updateStrategy.manualUpdate;
  }
  return copy;
}
