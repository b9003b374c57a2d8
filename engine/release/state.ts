/**
 * The state of a release, kept in an annotation on the workload and written in the same
 * server-side-apply request as the partition it describes (field manager kgitops-release). A
 * restarted engine reads it and continues exactly where it was: the current step, what each gate
 * has seen so far, approvals, why it is paused.
 */
import type { GateVerdict, MeasurementState } from './gates/types.js';

export const ANNOTATION_RELEASE_STATE = 'kgitops.io/release-state';
/** JSON of the rollout parts (pod template or sidecars) before the release, for abort. */
export const ANNOTATION_RELEASE_PREVIOUS = 'kgitops.io/release-previous';
export const RELEASE_FIELD_MANAGER = 'kgitops-release';

export type ReleasePhase = 'Progressing' | 'Paused' | 'Completed' | 'Aborted' | 'Superseded';

export interface GateState {
  readonly status: GateVerdict;
  readonly message: string;
  /** When the status last changed. */
  readonly since: string;
  /** Measured gates (metric, http): counters and the last measurements. */
  readonly measurement?: MeasurementState;
}

export interface Approval {
  /** Step index (0-based) approved. */
  readonly step: number;
  readonly by: string;
  readonly at: string;
  readonly via: 'cli' | 'git';
  /** For approvals through git: the commit that carried it. */
  readonly commit?: string;
}

export interface Transition {
  readonly at: string;
  readonly step: number;
  /** Kubernetes Event reason, e.g. ReleaseStepAdvanced. */
  readonly reason: string;
  readonly message: string;
}

export interface ReleaseState {
  /** `<namespace>/<name>@<revision>` */
  readonly id: string;
  readonly revision: string;
  readonly previousRevision?: string;
  readonly phase: ReleasePhase;
  /** Current step (0-based); its partition is the one written. */
  readonly step: number;
  readonly steps: number;
  readonly startedAt: string;
  readonly stepStartedAt: string;
  /** When this step's pods were first all updated and ready (bake counts from here). */
  readonly podsReadyAt?: string;
  /** Gate states of the current step, by key (`<step>/<index>` or `always/<index>`). */
  readonly gates: Record<string, GateState>;
  readonly approvals: Approval[];
  readonly pause?: { readonly reason: string; readonly by: string; readonly at: string };
  readonly finishedAt?: string;
  /** Commands (approve, pause, ...) of this release already folded into the state. */
  readonly commands?: number;
  /** The last transitions (newest last, at most 20). */
  readonly history: Transition[];
}

export function parseReleaseState(s: string | undefined): ReleaseState | undefined {
  if (!s) return undefined;
  try {
    const v = JSON.parse(s) as ReleaseState;
    return typeof v?.id === 'string' && typeof v.step === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function isFinal(s: ReleaseState | undefined): boolean {
  return !s || s.phase === 'Completed' || s.phase === 'Aborted' || s.phase === 'Superseded';
}

export function withTransition(s: ReleaseState, t: Transition): ReleaseState {
  return { ...s, history: [...s.history, t].slice(-20) };
}
