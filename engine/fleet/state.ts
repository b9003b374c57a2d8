/**
 * A fleet release's state: which commit it promotes, which wave it is at, the gates of that
 * wave, and the commit each cluster is to run (`targets`, what the clusters' reconciles apply).
 * It lives in the App's status in the management cluster (status.fleet), written by the
 * controller replica that holds the App, so that a restarted or another replica carries on from
 * exactly there.
 */
import type { GateState, Transition } from '../release/state.js';

export type FleetPhase = 'Progressing' | 'Paused' | 'Completed' | 'Aborted';

export interface WaveState {
  readonly name: string;
  /** Its clusters, fixed when the wave starts (a cluster registered later joins with the next commit). */
  readonly members?: string[];
  /** When its gates passed and its first clusters got the commit. */
  readonly startedAt?: string;
  /** When every member was synced, healthy and released. */
  readonly doneAt?: string;
  /** Its gates, by key `<wave>/<index>`, while it waits on them. */
  readonly gates: Record<string, GateState>;
}

export interface FleetApproval {
  /** Wave index (0-based) whose approval gates this opens. */
  readonly wave: number;
  readonly by: string;
  readonly at: string;
  readonly note?: string;
}

export interface FleetState {
  /** `<namespace>/<app>@<commit, 12>` */
  readonly id: string;
  readonly commit: string;
  readonly phase: FleetPhase;
  /** The current wave (0-based): waiting on its gates, or rolling out. */
  readonly wave: number;
  readonly waves: WaveState[];
  /** The commit each cluster is to run; a cluster not listed is given nothing. */
  readonly targets: Record<string, string>;
  /** What each cluster was to run before this release: what abort restores. */
  readonly previous: Record<string, string>;
  readonly approvals: FleetApproval[];
  readonly pause?: { readonly reason: string; readonly by: string; readonly at: string };
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** Commands (approve, pause, resume, abort) of this release already folded into the state. */
  readonly commands?: number;
  /** The last transitions, newest last (at most 30); `step` is the wave. */
  readonly history: Transition[];
}

const HISTORY = 30;

export function withFleetTransition(s: FleetState, t: Transition): FleetState {
  return { ...s, history: [...s.history, t].slice(-HISTORY) };
}

export function isFleetFinal(s: FleetState | undefined): boolean {
  return s?.phase === 'Completed' || s?.phase === 'Aborted';
}

/** A fleet command, as `kgitops approve|pause|resume|abort <app>` (and the dashboard) record it on the App. */
export interface FleetCommand {
  readonly action: 'approve' | 'pause' | 'resume' | 'abort';
  /** The release it is for (`FleetState.id`): a command for another one is ignored. */
  readonly release: string;
  /** approve: the wave (0-based); default the current one. */
  readonly wave?: number;
  readonly by: string;
  readonly at: string;
  readonly note?: string;
}

/** The App annotation holding the commands, a JSON list, appended to (never rewritten). */
export const ANNOTATION_FLEET_COMMANDS = 'kgitops.io/fleet-commands';

export function parseFleetCommands(raw: string | undefined): FleetCommand[] {
  if (!raw) return [];
  try {
    const v = JSON.parse(raw);
    return Array.isArray(v) ? v.filter((c) => c && typeof c === 'object' && typeof c.action === 'string' && typeof c.release === 'string') : [];
  } catch {
    return [];
  }
}
