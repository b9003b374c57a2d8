/**
 * What `kgitops approve | pause | resume | abort` do: append a command to the workload's
 * commands annotation (field manager kgitops-cli), for the release in progress. The release
 * controller folds it into the release state on its next look (a watch event: at once); the
 * command carries who gave it and when, and the state records it.
 *
 * Who gave it is what the cluster says the caller's credentials are (a SelfSubjectReview), never
 * a name the caller typed.
 */
import { ConflictError } from '../cluster/errors.js';
import type { Cluster, KubeObject, ObjectKey, UserIdentity } from '../cluster/types.js';
import {
  ANNOTATION_RELEASE_COMMANDS, CLI_FIELD_MANAGER, foreignCommandWriters, parseCommands, type ReleaseCommand, unreadableStateFix, unreadableStateMessage,
} from './controller.js';
import { readPlan } from './plan.js';
import { ANNOTATION_RELEASE_STATE, isFinal, readReleaseState, type ReleaseState } from './state.js';

export class CommandError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'CommandError';
  }
}

const KEEP = 50;

/** The plan git applied to the workload (its annotation), to check the state's step against. */
function planOf(live: KubeObject): { steps: readonly unknown[] } | undefined {
  try {
    return readPlan(live);
  } catch {
    return undefined; // an invalid plan is git's problem, reported by the engine
  }
}

export interface IssuedCommand {
  /** The release the command applies to. */
  readonly state: ReleaseState;
  /** Who the cluster says gave it. */
  readonly by: UserIdentity;
  /** Commands of this release written by something other than the CLI, dropped from the list (they never count). */
  readonly dropped: number;
}

/**
 * Appends a command for the release in progress, as the identity the cluster gives the caller;
 * `by`: who gave it when the cluster already authenticated them (the dashboard's TokenReview),
 * and the write goes as someone else (the App's ServiceAccount).
 */
export async function issueCommand(
  cluster: Cluster, key: ObjectKey, c: { action: ReleaseCommand['action']; step?: number; note?: string }, now: number, given?: UserIdentity,
): Promise<IssuedCommand> {
  const by = given ?? await cluster.whoAmI();
  for (let attempt = 0; attempt < 5; attempt++) {
    const live = await cluster.get(key);
    if (!live) throw new CommandError(`${key.kind} ${key.namespace ? `${key.namespace}/` : ''}${key.name} does not exist`);
    const read = readReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE], planOf(live));
    // The engine does not act on a state it cannot read, so a command for it would never run.
    if (read.problem) throw new CommandError(unreadableStateMessage(live, read.problem), unreadableStateFix(live));
    const state = read.state;
    if (!state || isFinal(state)) {
      throw new CommandError(`${key.name} has no release in progress${state ? ` (release ${state.id} is ${state.phase})` : ''}`,
        'a release starts when git changes the pod template of a workload with a release plan');
    }
    if (c.step !== undefined && (c.step < 0 || c.step >= state.steps)) {
      throw new CommandError(`release ${state.id} has steps 1 to ${state.steps}, not ${c.step + 1}`);
    }
    if (c.action === 'resume' && state.phase !== 'Paused') throw new CommandError(`release ${state.id} is not paused (${state.phase})`);
    if (c.action === 'pause' && state.phase === 'Paused') throw new CommandError(`release ${state.id} is already paused: ${state.pause?.reason ?? ''}`);
    const command: ReleaseCommand = {
      release: state.id, action: c.action, by: by.username, ...(by.uid ? { uid: by.uid } : {}), at: new Date(now).toISOString(),
      ...(c.step !== undefined ? { step: c.step } : {}), ...(c.note ? { note: c.note } : {}),
    };
    // Keep this release's commands (the controller counts them) plus a few of earlier releases.
    const earlier = parseCommands(live.metadata.annotations?.[ANNOTATION_RELEASE_COMMANDS]);
    let current = earlier.filter((x) => x.release === state.id);
    let dropped = 0;
    if (foreignCommandWriters(live).length) {
      // Someone else wrote the list: what the engine has not seen yet is theirs, and re-applying it
      // as kgitops-cli would pass it off as the CLI's. Only what the engine already counted stays.
      const seen = Math.min(current.length, state.commands ?? 0);
      dropped = current.length - seen;
      current = current.slice(0, seen);
    }
    const commands = [...earlier.filter((x) => x.release !== state.id).slice(-5), ...current, command].slice(-KEEP);
    const obj: KubeObject = {
      apiVersion: live.apiVersion, kind: live.kind,
      metadata: {
        name: live.metadata.name, ...(live.metadata.namespace ? { namespace: live.metadata.namespace } : {}),
        resourceVersion: live.metadata.resourceVersion,
        annotations: { [ANNOTATION_RELEASE_COMMANDS]: JSON.stringify(commands) },
      },
    };
    try {
      await cluster.apply(obj, { fieldManager: CLI_FIELD_MANAGER, force: true });
      return { state, by, dropped };
    } catch (e) {
      if (e instanceof ConflictError && e.conflicts.length === 0) continue; // changed under us: read again
      throw e;
    }
  }
  throw new CommandError('the workload kept changing; try again');
}
