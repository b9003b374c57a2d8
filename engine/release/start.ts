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
import { ANNOTATION_RELEASE_PLAN } from '../../dsl/release.js';
import type { Cluster, KubeObject } from '../cluster/types.js';
import type { GitApproval } from './machine.js';
import {
  ANNOTATION_TEMPLATE_REVISION, holdPartition, type ReleaseKind, releaseId, releaseKind, readPlan, revisionOf, rolloutParts, scaleOf,
  withoutReleaseFields,
} from './plan.js';
import type { TrackedRelease } from './controller.js';
import { releaseWrite } from './controller.js';
import { ANNOTATION_RELEASE_PREVIOUS, ANNOTATION_RELEASE_STATE, isFinal, parseReleaseState, RELEASE_FIELD_MANAGER, type ReleaseState } from './state.js';

export interface ReleasePreparation {
  /** What git applies for this workload. */
  readonly desired: KubeObject;
  /** Written (by kgitops-release) right before the git apply: starts a release. */
  readonly start?: { readonly write: KubeObject; readonly id: string; readonly superseded?: string; readonly message: string };
  readonly tracked: TrackedRelease;
}

/** Undefined for objects without a release plan. Throws on an invalid plan. */
export function prepareRelease(desired: KubeObject, live: KubeObject | undefined, now: number, gitApprovals: Record<string, GitApproval[]>): ReleasePreparation | undefined {
  const kind = releaseKind(desired);
  if (!kind || desired.metadata.annotations?.[ANNOTATION_RELEASE_PLAN] === undefined) return undefined;
  const plan = readPlan(desired)!;
  const revision = revisionOf(desired);
  let out = withoutReleaseFields(desired, kind);
  out = { ...out, metadata: { ...out.metadata, annotations: { ...out.metadata.annotations, [ANNOTATION_TEMPLATE_REVISION]: revision } } };
  const tracked: TrackedRelease = {
    key: { apiVersion: desired.apiVersion, kind: desired.kind, name: desired.metadata.name, ...(desired.metadata.namespace ? { namespace: desired.metadata.namespace } : {}) },
    kind, plan, revision, gitApprovals,
  };
  if (!live) return { desired: out, tracked }; // a new workload: nothing to protect yet

  const state = parseReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
  const id = releaseId(desired, revision);
  if (state?.phase === 'Aborted' && state.revision === revision && state.previousRevision) {
    return { desired: withPreviousTemplate(out, live, kind, state), tracked };
  }
  if (live.metadata.annotations?.[ANNOTATION_TEMPLATE_REVISION] === revision) return { desired: out, tracked };
  if (state && state.id === id && !isFinal(state)) return { desired: out, tracked }; // started before a crash

  const iso = new Date(now).toISOString();
  const previousRevision = live.metadata.annotations?.[ANNOTATION_TEMPLATE_REVISION] ?? revisionOf(live);
  const superseded = state && !isFinal(state) ? state.id : undefined;
  const message = `release ${id} started: ${plan.steps.length} step(s), from revision ${previousRevision}${superseded ? `; it supersedes ${superseded}, whose pods keep their version until this release reaches them` : ''}`;
  const fresh: ReleaseState = {
    id, revision, previousRevision, phase: 'Progressing', step: 0, steps: plan.steps.length,
    startedAt: iso, stepStartedAt: iso, gates: {}, approvals: [], commands: 0,
    history: [{ at: iso, step: 0, reason: 'ReleaseStarted', message }],
  };
  const write = releaseWrite(live, kind, fresh, {
    partition: holdPartition(kind, scaleOf(live)),
    paused: kind === 'UnitedDeployment' ? undefined : false,
    previous: JSON.stringify(rolloutParts(live)),
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

/** Approvals committed to git (approvals.yaml next to cdk8s.yaml), by release id. */
export interface ApprovalsFile {
  readonly approvals?: { release: string; step?: number; by: string; note?: string }[];
}

export function parseApprovals(doc: unknown, commit: string): { byRelease: Record<string, GitApproval[]>; problems: string[] } {
  const byRelease: Record<string, GitApproval[]> = {};
  const problems: string[] = [];
  const list = (doc as ApprovalsFile | null)?.approvals;
  if (doc !== null && doc !== undefined && !Array.isArray(list)) {
    return { byRelease, problems: ['approvals.yaml: expected "approvals:" with a list of { release, step?, by }'] };
  }
  (list ?? []).forEach((a, i) => {
    const at = `approvals.yaml: approvals[${i}]`;
    if (typeof a?.release !== 'string' || !/^[^@\s]+@[0-9a-f]{10}$/.test(a.release)) {
      problems.push(`${at}.release: expected a release id like "shop/storefront@3f9c2a1b7d" (kgitops status shows it), got ${JSON.stringify(a?.release)}`);
      return;
    }
    if (typeof a.by !== 'string' || !a.by) { problems.push(`${at}.by: who approves is required`); return; }
    if (a.step !== undefined && !(Number.isInteger(a.step) && a.step >= 1)) { problems.push(`${at}.step: a step number from 1, got ${JSON.stringify(a.step)}`); return; }
    (byRelease[a.release] ??= []).push({ by: a.by, commit, ...(a.step !== undefined ? { step: a.step - 1 } : {}) });
  });
  return { byRelease, problems };
}
