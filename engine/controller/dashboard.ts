/**
 * The controller as the dashboard's backend (engine/ui): the Apps it watches, each App's objects
 * and releases read as the App's own identity, and release commands written as the App, recorded
 * as given by the person the dashboard authenticated.
 */
import { readAppStatusAndLive } from '../cli/status.js';
import type { Clock } from '../clock.js';
import { type Cluster, groupOf } from '../cluster/types.js';
import { issueCommand } from '../release/commands.js';
import { issueFleetCommand } from '../fleet/commands.js';
import { ANNOTATION_RELEASE_STATE } from '../release/state.js';
import type { UiBackend } from '../ui/server.js';
import { releaseView, type ReleaseView } from '../ui/view.js';
import type { Controller } from './controller.js';

/** `cluster`: the controller's own, for discovery (a kind's plural). */
export function controllerDashboard(controller: Controller, o: { cluster: Cluster; clock: Clock }): UiBackend {
  const clusterOf = (key: string) => {
    const c = controller.actingAs(key);
    if (!c) throw new Error(`no App ${key}`);
    return c;
  };
  return {
    simulated: o.cluster.simulated,
    apps: () => controller.appObjects(),
    app: (key) => controller.appObject(key),
    async details(key) {
      const app = controller.appObject(key);
      if (!app) return { releases: [] };
      try {
        const { status, live } = await readAppStatusAndLive(clusterOf(key), app);
        const now = o.clock.now();
        const releases = live.filter((l) => l.metadata.annotations?.[ANNOTATION_RELEASE_STATE])
          .map((l) => releaseView(l, now)).filter((r): r is ReleaseView => !!r)
          // Releases in progress first, then the most recent.
          .sort((a, b) => Number(b.phase === 'Progressing' || b.phase === 'Paused') - Number(a.phase === 'Progressing' || a.phase === 'Paused') || b.startedAt.localeCompare(a.startedAt));
        return { status, releases, change: controller.appliedChange(key) };
      } catch (e) {
        return { releases: [], error: `could not read the App's objects as its ServiceAccount: ${(e as Error).message}` };
      }
    },
    async commandPermission(workload) {
      const info = await o.cluster.resource(workload.apiVersion, workload.kind).catch(() => undefined);
      return { group: groupOf(workload.apiVersion), resource: info?.plural ?? `${workload.kind.toLowerCase()}s` };
    },
    async command(key, workload, c, by) {
      const { state } = await issueCommand(clusterOf(key), workload, c, o.clock.now(), by);
      const what = c.action === 'approve' ? `approved step ${(c.step ?? state.step) + 1} of` : c.action === 'abort' ? 'asked to abort' : `${c.action}d`;
      return `${what} release ${state.id} (by ${by.username}); the engine carries it out and records it`;
    },
    async fleetCommand(key, c, by) {
      const [namespace, name] = key.split('/') as [string, string];
      // Written as the controller (it may patch Apps); the person was authorized for it already.
      const { state } = await issueFleetCommand(o.cluster, { namespace, name }, c, o.clock.now(), by);
      const what = c.action === 'approve' ? `approved wave ${(c.wave ?? state.wave) + 1} of` : c.action === 'abort' ? 'asked to abort' : `${c.action}d`;
      return `${what} fleet release ${state.id} (by ${by.username}); the controller carries it out and records it`;
    },
    subscribe: (listener) => controller.onAppChange(listener),
  };
}
