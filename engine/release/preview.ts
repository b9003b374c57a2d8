/**
 * The release plan of a workload as it would run: for each step the partition the engine writes,
 * the pods that updates at the given scale (Kruise's rounding, from plan.ts: the engine's own
 * arithmetic), the gates, and the least wall time the release can take. `kgitops preview` and
 * `kgitops diff` print it.
 */
import { unitedDeploymentAllocation } from '../../dsl/arithmetic.js';
import type { GateSpec } from '../../dsl/release.js';
import type { KubeObject } from '../cluster/types.js';
import { describeGate, formatSeconds } from './machine.js';
import {
  expectedUpdated, holdPartition, type PartitionValue, readPlan, releaseKind, type ReleaseKind, type Scale, stepPartition, subsetNames, templateImages,
} from './plan.js';

export interface PreviewStep {
  readonly index: number;
  readonly target: string;
  readonly partition: PartitionValue;
  /** Pods updated once the step is done, and how many more than the step before. */
  readonly updated: number;
  readonly added: number;
  readonly gates: string[];
  /** Least time the step's gates need (bakes, min-ready, measurements), seconds. */
  readonly minSeconds: number;
  /** Gates that wait for a person or a clock (approval, window): no upper bound. */
  readonly waitsFor: string[];
  /** The image pre-download before the step's partition moves: what is pulled, and its timeout. */
  readonly prepull?: { readonly images: string[]; readonly timeoutSeconds: number; readonly parallelism?: number };
}

export interface ReleasePreview {
  readonly kind: ReleaseKind;
  readonly name: string;
  readonly namespace?: string;
  readonly scale: Scale;
  /** Where the scale came from: spec, the cluster, or an assumption. */
  readonly scaleSource: string;
  readonly steps: PreviewStep[];
  readonly always: string[];
  readonly onFailure: 'pause' | 'abort';
  readonly minSeconds: number;
}

/** Least time a gate holds a step, in seconds (0 for gates without a clock of their own). */
export function gateMinSeconds(g: GateSpec): number {
  switch (g.type) {
    case 'bake': return g.seconds;
    case 'podsReady': return g.minReadySeconds ?? 0;
    // count measurements, the first when the pods are ready, then one per interval
    case 'metric':
    case 'http': return Math.max(0, g.count - 1) * g.intervalSeconds;
    default: return 0;
  }
}

/**
 * The scale a release would see, from the manifest: replicas (CloneSet, StatefulSet), subset
 * replicas (UnitedDeployment, Kruise's allocation); DaemonSets and SidecarSets count nodes and
 * matched pods, which only a cluster knows: `assumed` is used for them.
 */
export function scaleFromSpec(o: KubeObject, assumed: { nodes?: number; matchedPods?: number } = {}): { scale: Scale; source: string } {
  switch (releaseKind(o)) {
    case 'DaemonSet': return { scale: { total: assumed.nodes ?? 10 }, source: assumed.nodes ? 'nodes given' : 'assuming 10 nodes (pass --nodes, or --kubeconfig to read it)' };
    case 'SidecarSet': return { scale: { total: assumed.matchedPods ?? 10 }, source: assumed.matchedPods ? 'matched pods given' : 'assuming 10 matched pods (pass --matched-pods, or --kubeconfig)' };
    case 'UnitedDeployment': {
      const subsets = o.spec?.topology?.subsets ?? [];
      const total = o.spec?.replicas ?? subsets.reduce((a: number, s: { replicas?: unknown }) => a + (typeof s.replicas === 'number' ? s.replicas : 0), 0);
      const alloc = unitedDeploymentAllocation(total, subsets, new Map());
      const per = typeof alloc === 'string' ? Object.fromEntries(subsetNames(o).map((n) => [n, 0])) : Object.fromEntries(alloc);
      return { scale: { total, subsets: per }, source: 'spec.replicas over the subsets' };
    }
    default: return { scale: { total: o.spec?.replicas ?? 1 }, source: 'spec.replicas' };
  }
}

export function previewRelease(o: KubeObject, scale: Scale, scaleSource: string): ReleasePreview | undefined {
  const kind = releaseKind(o);
  const plan = kind ? readPlan(o) : undefined;
  if (!kind || !plan) return undefined;
  const images = templateImages(o);
  let partition = holdPartition(kind, scale);
  let before = 0;
  const steps: PreviewStep[] = plan.steps.map((s, index) => {
    partition = stepPartition(kind, s, scale, partition);
    const updated = expectedUpdated(kind, partition, scale);
    const gates = [...s.gates, ...(plan.always ?? [])];
    const step: PreviewStep = {
      index, target: s.target !== undefined ? String(s.target) : Object.entries(s.subsets ?? {}).map(([k, v]) => `${k}: ${v}`).join(', '),
      partition, updated, added: updated - before, gates: s.gates.map(describeGate),
      minSeconds: gates.reduce((a, g) => a + gateMinSeconds(g), 0),
      waitsFor: gates.filter((g) => g.type === 'approval' || g.type === 'window').map(describeGate),
      ...(s.prepull ? { prepull: { images, timeoutSeconds: s.prepull.timeoutSeconds, ...(s.prepull.parallelism ? { parallelism: s.prepull.parallelism } : {}) } } : {}),
    };
    before = updated;
    return step;
  });
  return {
    kind, name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}), scale, scaleSource, steps,
    always: (plan.always ?? []).map(describeGate), onFailure: plan.onFailure, minSeconds: steps.reduce((a, s) => a + s.minSeconds, 0),
  };
}

function partitionText(p: PartitionValue): string {
  return typeof p === 'object' ? Object.entries(p).map(([k, v]) => `${k}=${v}`).join(' ') : String(p);
}

export function formatPreview(p: ReleasePreview): string {
  const lines = [`${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}: ${p.steps.length} step(s) over ${p.scale.total} ${p.kind === 'DaemonSet' ? 'node(s)' : 'pod(s)'} (${p.scaleSource})`];
  for (const s of p.steps) {
    if (s.prepull) {
      lines.push(`  step ${s.index + 1}: first pre-download ${s.prepull.images.join(', ')} onto the nodes of the ${p.kind}'s pods (ImageListPullJob${s.prepull.parallelism ? `, ${s.prepull.parallelism} node(s) at a time` : ''}; pause after ${formatSeconds(s.prepull.timeoutSeconds)})`);
    }
    lines.push(`  step ${s.index + 1}: ${s.target.padEnd(6)} partition ${partitionText(s.partition).padEnd(8)} ${String(s.updated).padStart(3)} updated (+${s.added})  gates: ${s.gates.join(', ') || 'none'}${s.minSeconds ? `  >= ${formatSeconds(s.minSeconds)}` : ''}`);
  }
  if (p.always.length) lines.push(`  every step: ${p.always.join(', ')}`);
  const waits = p.steps.flatMap((s) => s.waitsFor);
  lines.push(`  at least ${p.minSeconds ? formatSeconds(p.minSeconds) : '0s'} plus the time pods take to become ready${waits.length ? `, plus waiting for ${[...new Set(waits)].join(', ')}` : ''}; on a failed measurement: ${p.onFailure}`);
  return `${lines.join('\n')}\n`;
}
