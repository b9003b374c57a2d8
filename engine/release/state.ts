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
  /** For approvals through git: the fingerprint of the key that signed `commit`. */
  readonly key?: string;
  /** What the approver (cli: --note) or the committer (git: by:, note:) wrote; not who approved. */
  readonly note?: string;
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
  /** The image pre-download of a step (Step.prepull): its job, and when it finished. */
  readonly prepull?: { readonly step: number; readonly job: string; readonly startedAt: string; readonly finishedAt?: string; readonly message?: string };
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

/** The state, or undefined when there is none or it cannot be read (readReleaseState says why). */
export function parseReleaseState(s: string | undefined): ReleaseState | undefined {
  return readReleaseState(s).state;
}

const PHASES = new Set<string>(['Progressing', 'Paused', 'Completed', 'Aborted', 'Superseded']);
const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIso = (v: unknown): boolean => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/**
 * The release state annotation, checked: absent (no release), a state, or a problem saying what
 * is wrong (invalid JSON, a field of the wrong type, a step beyond the plan). A state the engine
 * cannot read is never acted on: the release stops where it is until a person fixes it.
 */
export function readReleaseState(raw: string | undefined, plan?: { readonly steps: readonly unknown[] }): { state?: ReleaseState; problem?: string } {
  if (raw === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return { problem: `it is not valid JSON (${(e as Error).message})` };
  }
  const problem = stateProblem(v);
  if (problem) return { problem };
  const state = v as ReleaseState;
  if (plan && state.step >= plan.steps.length) {
    return { problem: `.step is ${state.step + 1} (from 1), beyond the plan's ${plan.steps.length} step(s)` };
  }
  return { state };
}

function stateProblem(v: unknown): string | undefined {
  if (!isObject(v)) return `it is ${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}, not an object`;
  if (typeof v.id !== 'string' || !/^[^@\s]+@[0-9a-f]{10}$/.test(v.id)) return `.id is ${JSON.stringify(v.id)}, not a release id like "shop/web@3f9c2a1b7d"`;
  if (typeof v.revision !== 'string' || !v.id.endsWith(`@${v.revision}`)) return `.revision is ${JSON.stringify(v.revision)}, not the revision of .id`;
  if (v.previousRevision !== undefined && typeof v.previousRevision !== 'string') return '.previousRevision is not a string';
  if (!PHASES.has(v.phase)) return `.phase is ${JSON.stringify(v.phase)}, not one of ${[...PHASES].join(', ')}`;
  if (!Number.isInteger(v.step) || v.step < 0) return `.step is ${JSON.stringify(v.step)}, not a step index (an integer from 0)`;
  if (!Number.isInteger(v.steps) || v.steps < 1) return `.steps is ${JSON.stringify(v.steps)}, not a number of steps`;
  if (v.step >= v.steps) return `.step is ${v.step + 1} (from 1), beyond its own ${v.steps} step(s)`;
  for (const k of ['startedAt', 'stepStartedAt'] as const) if (!isIso(v[k])) return `.${k} is ${JSON.stringify(v[k])}, not a time`;
  for (const k of ['podsReadyAt', 'finishedAt'] as const) if (v[k] !== undefined && !isIso(v[k])) return `.${k} is ${JSON.stringify(v[k])}, not a time`;
  if (!isObject(v.gates)) return '.gates is not an object';
  for (const [key, g] of Object.entries(v.gates)) {
    if (!isObject(g) || typeof g.status !== 'string' || typeof g.message !== 'string' || typeof g.since !== 'string') return `.gates[${JSON.stringify(key)}] is not a gate state (status, message, since)`;
    if (g.measurement !== undefined && !isObject(g.measurement)) return `.gates[${JSON.stringify(key)}].measurement is not an object`;
  }
  if (!Array.isArray(v.approvals)) return '.approvals is not a list';
  const badApproval = v.approvals.findIndex((a: unknown) => !isObject(a) || !Number.isInteger(a.step) || typeof a.by !== 'string');
  if (badApproval >= 0) return `.approvals[${badApproval}] is not an approval (step, by, at)`;
  if (v.pause !== undefined && (!isObject(v.pause) || typeof v.pause.reason !== 'string')) return '.pause is not a pause (reason, by, at)';
  if (v.prepull !== undefined && (!isObject(v.prepull) || !Number.isInteger(v.prepull.step) || typeof v.prepull.job !== 'string' || !isIso(v.prepull.startedAt))) {
    return '.prepull is not an image pre-download (step, job, startedAt)';
  }
  if (v.commands !== undefined && (!Number.isInteger(v.commands) || v.commands < 0)) return `.commands is ${JSON.stringify(v.commands)}, not a count`;
  if (!Array.isArray(v.history) || v.history.some((t: unknown) => !isObject(t))) return '.history is not a list of transitions';
  return undefined;
}

export function isFinal(s: ReleaseState | undefined): boolean {
  return !s || s.phase === 'Completed' || s.phase === 'Aborted' || s.phase === 'Superseded';
}

export function withTransition(s: ReleaseState, t: Transition): ReleaseState {
  return { ...s, history: [...s.history, t].slice(-20) };
}
