/**
 * What `kgitops approve | pause | resume | abort` do: append a command to the workload's
 * commands annotation (field manager kgitops-cli), for the release in progress. The release
 * controller folds it into the release state on its next look (a watch event: at once); the
 * command carries who gave it and when, and the state records it.
 */
import { ConflictError } from '../cluster/errors.js';
import type { Cluster, KubeObject, ObjectKey } from '../cluster/types.js';
import { ANNOTATION_RELEASE_COMMANDS, CLI_FIELD_MANAGER, parseCommands, type ReleaseCommand } from './controller.js';
import { ANNOTATION_RELEASE_STATE, isFinal, parseReleaseState, type ReleaseState } from './state.js';

export class CommandError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'CommandError';
  }
}

const KEEP = 50;

/** Appends a command for the release in progress; returns the release it applies to. */
export async function issueCommand(
  cluster: Cluster, key: ObjectKey, c: { action: ReleaseCommand['action']; by: string; step?: number }, now: number,
): Promise<ReleaseState> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const live = await cluster.get(key);
    if (!live) throw new CommandError(`${key.kind} ${key.namespace ? `${key.namespace}/` : ''}${key.name} does not exist`);
    const state = parseReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
    if (!state || isFinal(state)) {
      throw new CommandError(`${key.name} has no release in progress${state ? ` (release ${state.id} is ${state.phase})` : ''}`,
        'a release starts when git changes the pod template of a workload with a release plan');
    }
    if (c.step !== undefined && (c.step < 0 || c.step >= state.steps)) {
      throw new CommandError(`release ${state.id} has steps 1 to ${state.steps}, not ${c.step + 1}`);
    }
    if (c.action === 'resume' && state.phase !== 'Paused') throw new CommandError(`release ${state.id} is not paused (${state.phase})`);
    if (c.action === 'pause' && state.phase === 'Paused') throw new CommandError(`release ${state.id} is already paused: ${state.pause?.reason ?? ''}`);
    const command: ReleaseCommand = { release: state.id, action: c.action, by: c.by, at: new Date(now).toISOString(), ...(c.step !== undefined ? { step: c.step } : {}) };
    // Keep this release's commands (the controller counts them) plus a few of earlier releases.
    const earlier = parseCommands(live.metadata.annotations?.[ANNOTATION_RELEASE_COMMANDS]);
    const commands = [...earlier.filter((x) => x.release !== state.id).slice(-5), ...earlier.filter((x) => x.release === state.id), command].slice(-KEEP);
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
      return state;
    } catch (e) {
      if (e instanceof ConflictError && e.conflicts.length === 0) continue; // changed under us: read again
      throw e;
    }
  }
  throw new CommandError('the workload kept changing; try again');
}
