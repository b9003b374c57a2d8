/**
 * Fleet commands: `kgitops approve <app> --wave N`, `kgitops pause|resume|abort <app> --fleet`
 * (and the dashboard). Each is appended to the App's `kgitops.io/fleet-commands` annotation by
 * the CLI's field manager, as the caller; the controller folds it into the fleet release on its
 * next pass and records who gave it.
 */
import { ConflictError } from '../cluster/errors.js';
import type { Cluster, KubeObject, UserIdentity } from '../cluster/types.js';
import { APP_API_VERSION, APP_KIND, type AppObject } from '../controller/app-resource.js';
import { CLI_FIELD_MANAGER, foreignCommandWriters } from '../release/controller.js';
import { CommandError } from '../release/commands.js';
import type { FleetStatus } from './runner.js';
import { ANNOTATION_FLEET_COMMANDS, type FleetCommand, type FleetState, isFleetFinal, parseFleetCommands } from './state.js';

/** Commands of earlier releases kept in the list (this release's are all kept: the controller counts them). */
const EARLIER = 5;

export function fleetOf(app: AppObject | undefined): FleetStatus | undefined {
  return (app?.status as { fleet?: FleetStatus } | undefined)?.fleet;
}

/** Appends a command for the App's fleet release in progress, as the caller (or `given`, already authenticated). */
export async function issueFleetCommand(
  cluster: Cluster, app: { namespace: string; name: string }, c: { action: FleetCommand['action']; wave?: number; note?: string }, now: number, given?: UserIdentity,
): Promise<{ state: FleetState; by: UserIdentity }> {
  const by = given ?? await cluster.whoAmI();
  for (let attempt = 0; attempt < 5; attempt++) {
    const live = await cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: app.namespace, name: app.name }) as unknown as AppObject | undefined;
    if (!live) throw new CommandError(`App ${app.namespace}/${app.name} does not exist`, 'name it as <namespace>/<app>');
    const state = fleetOf(live)?.release;
    if (!state) throw new CommandError(`App ${app.namespace}/${app.name} has no fleet release`, 'a fleet release starts when a commit of an app that declares a Fleet is fetched');
    if (isFleetFinal(state)) throw new CommandError(`fleet release ${state.id} is ${state.phase}`, 'a new commit starts a new fleet release');
    if (c.wave !== undefined && (c.wave < 0 || c.wave >= state.waves.length)) throw new CommandError(`fleet release ${state.id} has waves 1 to ${state.waves.length}, not ${c.wave + 1}`);
    if (c.action === 'resume' && state.phase !== 'Paused') throw new CommandError(`fleet release ${state.id} is not paused (${state.phase})`);
    if (c.action === 'pause' && state.phase === 'Paused') throw new CommandError(`fleet release ${state.id} is already paused: ${state.pause?.reason ?? ''}`);
    const command: FleetCommand = {
      action: c.action, release: state.id, by: by.username, at: new Date(now).toISOString(),
      ...(c.wave !== undefined ? { wave: c.wave } : {}), ...(c.note ? { note: c.note } : {}),
    };
    const earlier = parseFleetCommands(live.metadata.annotations?.[ANNOTATION_FLEET_COMMANDS]);
    // A list someone else wrote: only what the controller already counted stays (as for release commands).
    const mine = earlier.filter((x) => x.release === state.id);
    const kept = foreignCommandWriters(live as unknown as KubeObject, ANNOTATION_FLEET_COMMANDS).length ? mine.slice(0, state.commands ?? 0) : mine;
    const commands = [...earlier.filter((x) => x.release !== state.id).slice(-EARLIER), ...kept, command];
    try {
      await cluster.apply({
        apiVersion: APP_API_VERSION, kind: APP_KIND,
        metadata: { name: app.name, namespace: app.namespace, resourceVersion: live.metadata.resourceVersion, annotations: { [ANNOTATION_FLEET_COMMANDS]: JSON.stringify(commands) } },
      } as unknown as KubeObject, { fieldManager: CLI_FIELD_MANAGER, force: true });
      return { state, by };
    } catch (e) {
      if (e instanceof ConflictError && e.conflicts.length === 0) continue; // changed under us: read again
      throw e;
    }
  }
  throw new CommandError('the App kept changing; try again');
}
