/**
 * Where git meets releases. For a workload with a release plan, the sync engine:
 *   - leaves partition and paused out of what git applies (the release owns them),
 *   - stamps the revision of the template it applies (kgitops.io/template-revision),
 *   - when the template changes, first writes the hold (the partition that keeps every pod on the
 *     old revision), the new release's state and the previous template, as kgitops-release, and
 *     only then applies the new template: Kruise never sees the new template without the hold;
 *   - while a release of this very revision is aborted, keeps applying the previous template,
 *     until git moves on to another revision.
 *
 * Server-side apply cannot split one request between two field managers, so the hold and the
 * template are two requests, in that order, right after each other.
 */
import { createHash } from 'node:crypto';
import { ANNOTATION_RELEASE_PLAN } from '../../dsl/release.js';
import { stableStringify } from '../apply/applyset.js';
import { type Cluster, describeKey, type KubeObject, keyOf, keyOfObjectId, objectId } from '../cluster/types.js';
import type { HeldBackWorkload } from '../state.js';
import type { GitApproval } from './machine.js';
import {
  ANNOTATION_TEMPLATE_REVISION, getPath, holdPartition, type ReleaseKind, releaseId, releaseKind, readPlan, revisionOf, rolloutParts, scaleOf,
  strategyPaths, withoutReleaseFields,
} from './plan.js';
import type { TrackedRelease } from './controller.js';
import { ANNOTATION_RELEASE_COMMANDS, releaseWrite } from './controller.js';
import { ANNOTATION_RELEASE_PREVIOUS, ANNOTATION_RELEASE_STATE, isFinal, readReleaseState, RELEASE_FIELD_MANAGER, type ReleaseState } from './state.js';

export interface ReleasePreparation {
  /** What git applies for this workload. */
  readonly desired: KubeObject;
  /**
   * Set when the live release state cannot be read (invalid, or a step beyond the plan): git's
   * template is held off (the live one is applied) and no release starts, until a person fixes it.
   */
  readonly unreadable?: string;
  /** Written (by kgitops-release) right before the git apply: starts a release. */
  readonly start?: { readonly write: KubeObject; readonly id: string; readonly superseded?: string; readonly message: string };
  /**
   * Set while this revision's release is aborted: `desired` carries the previous template, and
   * `declared` is what git says (for `kgitops diff --live`, which shows the difference).
   */
  readonly heldBack?: { readonly record: HeldBackWorkload; readonly declared: KubeObject };
  readonly tracked: TrackedRelease;
}

/** Undefined for objects without a release plan. Throws on an invalid plan. */
export function prepareRelease(desired: KubeObject, live: KubeObject | undefined, now: number, gitApprovals: Record<string, GitApproval[]>): ReleasePreparation | undefined {
  const kind = releaseKind(desired);
  if (!kind || desired.metadata.annotations?.[ANNOTATION_RELEASE_PLAN] === undefined) return undefined;
  const plan = readPlan(desired)!;
  const revision = revisionOf(desired);
  let out = withoutReleaseFields(desired, kind);
  // The release's own annotations belong to kgitops-release and kgitops-cli: never taken from git.
  const { [ANNOTATION_RELEASE_STATE]: _s, [ANNOTATION_RELEASE_PREVIOUS]: _p, [ANNOTATION_RELEASE_COMMANDS]: _c, ...annotations } = out.metadata.annotations ?? {};
  out = { ...out, metadata: { ...out.metadata, annotations: { ...annotations, [ANNOTATION_TEMPLATE_REVISION]: revision } } };
  const tracked: TrackedRelease = {
    key: { apiVersion: desired.apiVersion, kind: desired.kind, name: desired.metadata.name, ...(desired.metadata.namespace ? { namespace: desired.metadata.namespace } : {}) },
    kind, plan, revision, gitApprovals,
  };
  if (!live) return { desired: out, tracked }; // a new workload: nothing to protect yet

  const raw = live.metadata.annotations?.[ANNOTATION_RELEASE_STATE];
  const read = readReleaseState(raw, plan);
  // A state we cannot read is never acted on: no hold, no new template (it would roll pods past
  // a partition we know nothing about); the controller reports it.
  if (read.problem) return { desired: withLiveRolloutParts(out, live, kind), tracked, unreadable: read.problem };
  const state = read.state;
  const id = releaseId(desired, revision);
  const liveRevision = live.metadata.annotations?.[ANNOTATION_TEMPLATE_REVISION];
  if (state?.phase === 'Aborted' && state.revision === revision && state.previousRevision) {
    const record: HeldBackWorkload = {
      id: objectId(keyOf(out)), workload: describeKey(keyOf(out)), release: state.id, declaredRevision: revision, runningRevision: state.previousRevision,
      ...(state.pause?.reason ? { reason: state.pause.reason } : {}),
    };
    return { desired: withPreviousTemplate(out, live, kind, state), tracked, heldBack: { record, declared: out } };
  }
  // The state was removed (the fix for one that could not be read) while pods are held: the
  // release of this template starts again from step 1.
  const restart = raw === undefined && liveRevision === revision && isHeld(kind, live);
  if (liveRevision === revision && !restart) return { desired: out, tracked };
  if (state && state.id === id && !isFinal(state)) return { desired: out, tracked }; // started before a crash

  const iso = new Date(now).toISOString();
  const previousRevision = restart ? previousRevisionOf(live) ?? revision : liveRevision ?? revisionOf(live);
  const superseded = state && !isFinal(state) ? state.id : undefined;
  const message = restart
    ? `release ${id} started again from step 1 of ${plan.steps.length}: its state had been removed while pods were held; pods already updated keep their version`
    : `release ${id} started: ${plan.steps.length} step(s), from revision ${previousRevision}${superseded ? `; it supersedes ${superseded}, whose pods keep their version until this release reaches them` : ''}`;
  const fresh: ReleaseState = {
    id, revision, previousRevision, phase: 'Progressing', step: 0, steps: plan.steps.length,
    startedAt: iso, stepStartedAt: iso, gates: {}, approvals: [], commands: 0,
    history: [{ at: iso, step: 0, reason: 'ReleaseStarted', message }],
  };
  const write = releaseWrite(live, kind, fresh, {
    partition: holdPartition(kind, scaleOf(live)),
    paused: kind === 'UnitedDeployment' ? undefined : false,
    // A restart keeps the template of before the release (the live one is already the new one).
    ...(restart ? {} : { previous: JSON.stringify(rolloutParts(live)) }),
    guard: false,
  });
  return { desired: out, tracked, start: { write, id, superseded, message } };
}

/**
 * Writes a release's start (the hold, the state, the previous template) and records it as
 * Events on the workload. Call it right before git's apply of the new template.
 */
export async function startRelease(cluster: Cluster, start: NonNullable<ReleasePreparation['start']>, log?: (m: string) => void): Promise<void> {
  const held = await cluster.apply(start.write, { fieldManager: RELEASE_FIELD_MANAGER, force: true });
  log?.(start.message);
  await cluster.event(held, { type: 'Normal', reason: 'ReleaseStarted', message: start.message }, 'kgitops-release');
  if (start.superseded) {
    await cluster.event(held, { type: 'Normal', reason: 'ReleaseSuperseded', message: `release ${start.superseded} superseded by ${start.id}` }, 'kgitops-release');
  }
}

/** Whether a release-owned field holds pods back: a partition above 0, or paused. */
function isHeld(kind: ReleaseKind, live: KubeObject): boolean {
  const paths = strategyPaths(kind);
  if (paths.paused && getPath(live, paths.paused) === true) return true;
  const p = getPath(live, paths.partition);
  if (p === undefined || p === null) return false;
  if (typeof p === 'object') return Object.values(p as Record<string, unknown>).some((v) => v !== 0 && v !== '0%');
  return p !== 0 && p !== '0%';
}

/** The revision of the template recorded before the release (kgitops.io/release-previous). */
function previousRevisionOf(live: KubeObject): string | undefined {
  const raw = live.metadata.annotations?.[ANNOTATION_RELEASE_PREVIOUS];
  if (raw === undefined) return undefined;
  try {
    return createHash('sha256').update(stableStringify(JSON.parse(raw) ?? null)).digest('hex').slice(0, 10);
  } catch {
    return undefined;
  }
}

/** Git's object with the live rollout parts (and their revision): the template does not change. */
function withLiveRolloutParts(o: KubeObject, live: KubeObject, kind: ReleaseKind): KubeObject {
  const copy = structuredClone(o);
  if (kind === 'SidecarSet') {
    for (const k of ['containers', 'initContainers', 'volumes']) {
      if (live.spec?.[k] !== undefined) copy.spec[k] = structuredClone(live.spec[k]);
      else delete copy.spec[k];
    }
  } else {
    copy.spec.template = structuredClone(live.spec?.template);
  }
  const annotations = { ...copy.metadata.annotations };
  const liveRevision = live.metadata.annotations?.[ANNOTATION_TEMPLATE_REVISION];
  if (liveRevision !== undefined) annotations[ANNOTATION_TEMPLATE_REVISION] = liveRevision;
  else delete annotations[ANNOTATION_TEMPLATE_REVISION];
  copy.metadata.annotations = annotations;
  return copy;
}

/** The desired object with the template of before the aborted release. */
function withPreviousTemplate(o: KubeObject, live: KubeObject, kind: ReleaseKind, state: ReleaseState): KubeObject {
  const previous = JSON.parse(live.metadata.annotations?.[ANNOTATION_RELEASE_PREVIOUS] ?? 'null');
  if (!previous) return o;
  const copy = structuredClone(o);
  if (kind === 'SidecarSet') Object.assign(copy.spec, previous);
  else copy.spec.template = previous;
  copy.metadata.annotations = { ...copy.metadata.annotations, [ANNOTATION_TEMPLATE_REVISION]: state.previousRevision! };
  return copy;
}

/**
 * The releases in progress among an app's members, as the live workloads record them (their
 * plan annotation, template revision and release state), so that an engine that just started
 * drives them before its first synth: a restart under load (a synth of several seconds) must
 * not hold a release's next step until the commit is rendered again. Approvals from git are not
 * known before the synth; an approval gate waits for it (never opens early). The full set from
 * the render replaces these once the first reconcile has it.
 */
export async function inProgressReleases(cluster: Cluster, members: Readonly<Record<string, { readonly apiVersion: string }>>): Promise<TrackedRelease[]> {
  const out: TrackedRelease[] = [];
  for (const [id, { apiVersion }] of Object.entries(members)) {
    const key = keyOfObjectId(id, apiVersion);
    if (!releaseKind(key)) continue;
    const live = await cluster.get(key).catch(() => undefined);
    if (!live) continue;
    const kind = releaseKind(live);
    const revision = live.metadata.annotations?.[ANNOTATION_TEMPLATE_REVISION];
    if (!kind || !revision) continue;
    let plan;
    try {
      plan = readPlan(live);
    } catch {
      continue; // the render reports an invalid plan
    }
    if (!plan) continue;
    const read = readReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE], plan);
    if (read.problem || isFinal(read.state) || read.state!.revision !== revision) continue;
    out.push({ key, kind, plan, revision, gitApprovals: {} });
  }
  return out;
}
