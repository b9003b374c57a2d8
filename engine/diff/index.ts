/**
 * diff: the rendered objects of two versions, object by object. Objects are matched by API
 * group, kind, namespace and name (a new apiVersion of the same object is a change, not a
 * remove and an add); each change lists its fields, flags the ones a release turns on, and
 * previews the release a changed pod template starts.
 */
import { createTwoFilesPatch } from 'diff';
import { objectRef, type RenderedObject } from '../../dsl/app.js';
import type { Diagnostic, ObjectRef } from '../../dsl/diagnostics.js';
import { toYaml } from '../../dsl/output.js';
import { keyOf, type KubeObject, objectId } from '../cluster/types.js';
import { describeGate } from '../release/machine.js';
import { readPlan, releaseKind, rolloutParts } from '../release/plan.js';
import { previewRelease, type ReleasePreview, scaleFromSpec } from '../release/preview.js';
import { type FieldChange, fieldChanges } from './fields.js';

export { type FieldChange, fieldChanges } from './fields.js';

export type ObjectChangeKind = 'added' | 'removed' | 'changed';

export interface ReleaseField extends FieldChange {
  /** What a release reviewer should know the field is: image, replicas, strategy, partition, gates. */
  readonly aspect: 'image' | 'replicas' | 'strategy' | 'partition' | 'gates' | 'paused';
  /** A reading of the change for people (release plans: the steps whose gates changed). */
  readonly summary?: string;
}

export interface ObjectDiff {
  readonly change: ObjectChangeKind;
  readonly object: ObjectRef;
  readonly constructPath?: string;
  readonly source?: string;
  /** Field changes (empty for added and removed objects). */
  readonly fields: FieldChange[];
  /** The release-relevant subset of `fields`. */
  readonly release: ReleaseField[];
  /** Unified diff of the YAML of both versions. */
  readonly unified: string;
  /**
   * For a workload with a release plan whose rollout parts (pod template, sidecars) change or
   * that is new: the release as it would run. `noRollout` says the template is unchanged.
   */
  readonly preview?: ReleasePreview;
  readonly noRollout?: boolean;
}

export interface DiffSideSummary {
  readonly label: string;
  readonly sha?: string;
  readonly objects: number;
  readonly diagnostics: Diagnostic[];
}

export interface DiffResult {
  readonly app: string;
  readonly base: DiffSideSummary;
  readonly head: DiffSideSummary;
  readonly objects: ObjectDiff[];
  readonly unchanged: number;
  readonly counts: { readonly added: number; readonly removed: number; readonly changed: number };
  /** Policies that ran on the head. */
  readonly policies: string[];
  readonly timings?: Record<string, number>;
}

const ASPECTS: [RegExp, ReleaseField['aspect']][] = [
  [/(^|\.)(initContainers|containers)\[[^\]]+\](\.image)?$/, 'image'],
  [/(^|\.)partitions?(\b|$)|manualUpdate/, 'partition'],
  [/(^|\.)paused$/, 'paused'],
  [/^metadata\.annotations\["kgitops\.io\/release-plan"\]$/, 'gates'],
  [/^spec\.replicas$|^spec\.topology\.subsets(\[[^\]]+\])?(\.replicas|\.minReplicas|\.maxReplicas)?$/, 'replicas'],
  [/^spec\.(updateStrategy|strategy)\b|\.updateStrategy\b|^spec\.(minReadySeconds|podManagementPolicy)$/, 'strategy'],
];

export function releaseAspect(path: string): ReleaseField['aspect'] | undefined {
  return ASPECTS.find(([re]) => re.test(path))?.[1];
}

function unified(name: string, before: unknown, after: unknown): string {
  const a = before === undefined ? '' : toYaml([before]);
  const b = after === undefined ? '' : toYaml([after]);
  const patch = createTwoFilesPatch(before === undefined ? '/dev/null' : `a/${name}`, after === undefined ? '/dev/null' : `b/${name}`, a, b, undefined, undefined, { context: 3 });
  // The first two lines are the `===`/`Index` header jsdiff adds; keep from `---` on.
  return patch.slice(patch.indexOf('---'));
}

function previewOf(m: KubeObject): ReleasePreview | undefined {
  if (!releaseKind(m) || !m.metadata.annotations?.['kgitops.io/release-plan']) return undefined;
  try {
    if (!readPlan(m)) return undefined;
    const { scale, source } = scaleFromSpec(m);
    return previewRelease(m, scale, source);
  } catch {
    return undefined; // an invalid plan is reported by validation
  }
}

function stepTexts(o: KubeObject): string[] {
  try {
    const plan = readPlan(o);
    if (!plan) return [];
    return [
      ...plan.steps.map((s) => `${s.target !== undefined ? String(s.target) : Object.entries(s.subsets ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ')} (${s.gates.map(describeGate).join(', ') || 'no gates'})`),
      ...(plan.always?.length ? [`every step: ${plan.always.map(describeGate).join(', ')}`] : []),
      `on failure: ${plan.onFailure}`,
    ];
  } catch {
    return [];
  }
}

/** The steps of a release plan that differ, read out: `step 2: zone-b: 100% (pods ready, bake 15m) -> zone-b: 100% (pods ready, bake 30m)`. */
export function planChange(before: KubeObject | undefined, after: KubeObject | undefined): string | undefined {
  const a = before ? stepTexts(before) : [];
  const b = after ? stepTexts(after) : [];
  if (!a.length && !b.length) return undefined;
  if (!a.length) return 'release plan added';
  if (!b.length) return 'release plan removed';
  const out: string[] = [];
  const steps = (x: string[]) => x.filter((t) => !t.startsWith('every step:') && !t.startsWith('on failure:'));
  const sa = steps(a);
  const sb = steps(b);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    if (sa[i] === sb[i]) continue;
    out.push(sa[i] === undefined ? `step ${i + 1} added: ${sb[i]}` : sb[i] === undefined ? `step ${i + 1} removed: ${sa[i]}` : `step ${i + 1}: ${sa[i]} -> ${sb[i]}`);
  }
  for (const prefix of ['every step:', 'on failure:']) {
    const x = a.find((t) => t.startsWith(prefix)) ?? `${prefix} none`;
    const y = b.find((t) => t.startsWith(prefix)) ?? `${prefix} none`;
    if (x !== y) out.push(`${x} -> ${y.slice(prefix.length).trim()}`);
  }
  return out.join('; ') || undefined;
}

/** Compares two rendered sets. Order: by change (changed, added, removed), then in the head's order. */
export function diffObjects(base: readonly RenderedObject[], head: readonly RenderedObject[]): { objects: ObjectDiff[]; unchanged: number } {
  const before = new Map(base.map((o) => [objectId(keyOf(o.manifest as KubeObject)), o]));
  const seen = new Set<string>();
  const out: ObjectDiff[] = [];
  let unchanged = 0;
  for (const h of head) {
    const id = objectId(keyOf(h.manifest as KubeObject));
    seen.add(id);
    const b = before.get(id);
    const where = { constructPath: h.constructPath, ...(h.source ? { source: h.source } : {}) };
    const name = `${h.manifest.kind}/${h.manifest.metadata?.namespace ? `${h.manifest.metadata.namespace}/` : ''}${h.manifest.metadata?.name}`;
    if (!b) {
      const preview = previewOf(h.manifest as KubeObject);
      out.push({ change: 'added', object: objectRef(h.manifest), ...where, fields: [], release: [], unified: unified(name, undefined, h.manifest), ...(preview ? { preview } : {}) });
      continue;
    }
    const fields = fieldChanges(b.manifest, h.manifest);
    if (fields.length === 0) { unchanged++; continue; }
    const release = fields.flatMap((f): ReleaseField[] => {
      const aspect = releaseAspect(f.path);
      if (!aspect) return [];
      const summary = aspect === 'gates' ? planChange(b.manifest as KubeObject, h.manifest as KubeObject) : undefined;
      return [{ ...f, aspect, ...(summary ? { summary } : {}) }];
    });
    let preview: ReleasePreview | undefined;
    let noRollout: boolean | undefined;
    if (releaseKind(h.manifest as KubeObject)) {
      const rollout = fieldChanges(rolloutParts(b.manifest as KubeObject), rolloutParts(h.manifest as KubeObject)).length > 0;
      preview = rollout ? previewOf(h.manifest as KubeObject) : undefined;
      if (!rollout && (h.manifest.metadata?.annotations?.['kgitops.io/release-plan'] || release.length)) noRollout = true;
    }
    out.push({ change: 'changed', object: objectRef(h.manifest), ...where, fields, release, unified: unified(name, b.manifest, h.manifest), ...(preview ? { preview } : {}), ...(noRollout ? { noRollout } : {}) });
  }
  for (const b of base) {
    if (seen.has(objectId(keyOf(b.manifest as KubeObject)))) continue;
    const name = `${b.manifest.kind}/${b.manifest.metadata?.namespace ? `${b.manifest.metadata.namespace}/` : ''}${b.manifest.metadata?.name}`;
    out.push({ change: 'removed', object: objectRef(b.manifest), constructPath: b.constructPath, ...(b.source ? { source: b.source } : {}), fields: [], release: [], unified: unified(name, b.manifest, undefined) });
  }
  const order: Record<ObjectChangeKind, number> = { changed: 0, added: 1, removed: 2 };
  return { objects: out.map((o, i) => [o, i] as const).sort(([a, i], [b, j]) => order[a.change] - order[b.change] || i - j).map(([o]) => o), unchanged };
}

export function countChanges(objects: readonly ObjectDiff[]): DiffResult['counts'] {
  return {
    added: objects.filter((o) => o.change === 'added').length,
    removed: objects.filter((o) => o.change === 'removed').length,
    changed: objects.filter((o) => o.change === 'changed').length,
  };
}

/**
 * What an applied commit changed: its render against the render of the commit applied before
 * it, in the shape of `kgitops diff -o json` (the dashboard shows it). `before` absent: the first
 * commit applied, so every object is added.
 */
export function appliedChange(app: string, before: { readonly sha: string; readonly objects: readonly RenderedObject[] } | undefined, after: { readonly sha: string; readonly objects: readonly RenderedObject[] }): DiffResult {
  const { objects, unchanged } = diffObjects(before?.objects ?? [], after.objects);
  return {
    app,
    base: before ? { label: `commit ${before.sha.slice(0, 12)}`, sha: before.sha, objects: before.objects.length, diagnostics: [] } : { label: 'nothing applied', objects: 0, diagnostics: [] },
    head: { label: `commit ${after.sha.slice(0, 12)}`, sha: after.sha, objects: after.objects.length, diagnostics: [] },
    objects, unchanged, counts: countChanges(objects), policies: [],
  };
}
