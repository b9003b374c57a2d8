import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { appApplySetId, appCrd, type AppObject } from '../../../engine/controller/app-resource.js';
import { AppStateStore, conditionsFor, releaseSummary, stateOfApp } from '../../../engine/controller/app-state.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { realClock } from '../../../engine/clock.js';
import type { StatusSnapshot } from '../../../engine/state.js';
import { specProblems, refMatches, repoMatches } from '../../../engine/controller/controller.js';
import { APP_CRD_FILE, appCrdYaml } from '../../../schemas/generate-app-crd.js';

describe('the App resource', () => {
  it('the committed CRD is the one the TypeScript schemas generate (npm run crd)', () => {
    expect(readFileSync(APP_CRD_FILE, 'utf8')).toBe(appCrdYaml());
    const crd = parse(readFileSync(APP_CRD_FILE, 'utf8'));
    const v = crd.spec.versions[0];
    expect(v.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(['Commit', 'Sync', 'Health', 'Release', 'Age', 'Message']);
    expect(v.subresources).toEqual({ status: {} });
    // Structural-schema rules the apiserver enforces: no $id, no draft-7 exclusiveMinimum numbers, no anyOf of consts.
    const text = JSON.stringify(appCrd());
    expect(text).not.toMatch(/"\$id"|"exclusiveMinimum":\d|"const"/);
    // The apiserver stores no empty map or list of a schema (properties, required, enum): the
    // stored CRD would differ from the applied one, and a second field manager's apply conflict.
    expect(text).not.toMatch(/"(properties|required|enum|items|patternProperties)":(\{\}|\[\])/);
  });

  it('checks a spec against the same schema, with the JSON path of each problem', () => {
    const app = (spec: unknown) => ({ apiVersion: 'kgitops.io/v1alpha1', kind: 'App', metadata: { name: 'a', namespace: 'n' }, spec }) as AppObject;
    expect(specProblems(app({ source: { repo: 'https://example.com/r.git', path: 'apps/a', interval: '1m' } }))).toEqual([]);
    expect(specProblems(app({ source: { repo: 'x', interval: 'soon' } })).join()).toMatch(/spec\.source\.interval/);
    expect(specProblems(app({ source: {} })).join()).toMatch(/spec\.source\.repo/);
    expect(specProblems(app({ source: { repo: 'x' }, prune: { maxFraction: 2 } })).join()).toMatch(/spec\.prune\.maxFraction/);
    const notifications = [{ type: 'webhook', url: 'https://hooks.example.com/x', events: ['applied', 'release'] }, { type: 'github', secretRef: { name: 'gh' } }];
    expect(specProblems(app({ source: { repo: 'https://github.com/acme/shop' }, notifications }))).toEqual([]);
    expect(specProblems(app({ source: { repo: 'x' }, notifications: [{ url: 'https://x' }] })).join()).toMatch(/spec\.notifications\.0\.type/);
  });

  it('an App is its own ApplySet parent, with a KEP-3659 id of its own', () => {
    expect(appApplySetId('team-a', 'shop')).toMatch(/^applyset-[A-Za-z0-9_-]{43}-v1$/);
    expect(appApplySetId('team-a', 'shop')).not.toBe(appApplySetId('team-b', 'shop'));
  });

  it('reads a status it wrote back as the reconciler\'s state; a status without inventory is a new app', () => {
    expect(stateOfApp(undefined).exists).toBe(false);
    const app = {
      apiVersion: 'kgitops.io/v1alpha1', kind: 'App', metadata: { name: 'shop', namespace: 'team-a' }, spec: { source: { repo: 'r' } },
      status: {
        sync: 'Synced', appliedCommit: 'a'.repeat(40), lastReconcile: { time: '2026-12-01T00:00:00Z', result: 'Succeeded', durationMs: 5, message: 'ok' },
        inventory: { size: 1, groupKinds: ['ConfigMap'], namespaces: ['other'], entries: [{ id: 'ConfigMap/team-a/settings', v: 'v1', hash: 'h', resourceVersion: '7' }] },
        objects: [{ id: 'ConfigMap/team-a/settings', apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: 'team-a', health: 'Current', message: 'exists' }],
        history: [{ commit: 'a'.repeat(40), time: '2026-12-01T00:00:00Z', durationMs: 5, result: 'Succeeded', message: 'ok', changes: { created: 1, updated: 0, pruned: 0, unchanged: 0, driftCorrected: 0 } }],
        heldBack: [{ id: 'CloneSet.apps.kruise.io/team-a/web', workload: 'CloneSet team-a/web', release: 'web-1', declaredRevision: 'b', runningRevision: 'a' }],
      },
    } as AppObject;
    const s = stateOfApp(app);
    expect(s.data.status?.heldBack).toEqual(app.status!.heldBack);
    expect(s).toMatchObject({ exists: true, inventoryReadable: true, groupKinds: ['ConfigMap'], namespaces: ['other'], problems: [] });
    expect(s.data.inventory).toEqual({ 'ConfigMap/team-a/settings': { apiVersion: 'v1', hash: 'h', resourceVersion: '7' } });
    expect(s.data.status).toMatchObject({ sync: 'Synced', appliedCommit: 'a'.repeat(40) });
    expect(s.data.history).toHaveLength(1);
  });

  it('a status the store wrote reads back as the same snapshot, so a steady App does not rewrite it every interval', async () => {
    const cluster = new SimCluster({ clock: realClock, namespaces: ['team-a'] });
    try {
      await cluster.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
      await cluster.apply({ apiVersion: 'kgitops.io/v1alpha1', kind: 'App', metadata: { name: 'shop', namespace: 'team-a' }, spec: { source: { repo: 'r' } } } as unknown as KubeObject, { fieldManager: 'test' });
      const store = new AppStateStore({ cluster, namespace: 'team-a', name: 'shop', serviceAccount: 'ServiceAccount team-a/deployer' });
      await store.read();
      // Everything a snapshot can hold; defaultBranch (no ref configured) was once lost on the way.
      const snapshot: StatusSnapshot = {
        app: 'shop', appliedCommit: 'a'.repeat(40), attemptedCommit: 'b'.repeat(40), ref: 'refs/heads/main', defaultBranch: true, sync: 'Failed',
        message: 'commit bbb is invalid', time: '2026-12-01T00:00:00.000Z',
        objects: [{ id: 'ConfigMap/team-a/settings', apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: 'team-a', health: 'Current', message: 'exists' }],
        errors: [{ severity: 'error', rule: 'synth/app-failed', message: 'boom', hint: 'fix it', source: 'main.ts:3:1', constructPath: 'app/web', path: 'spec.replicas', object: { apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: 'team-a' } }],
        warnings: [{ severity: 'warning', rule: 'release/approvals', message: 'an approval does not count' }],
      };
      await store.write({ groupKinds: ['ConfigMap'], namespaces: ['team-a'], data: { inventory: {}, status: snapshot, history: [] } as never });
      expect((await store.read()).data.status).toEqual(snapshot);
    } finally {
      cluster.stop();
    }
  });

  it('kstatus conditions: Ready when synced and current, Reconciling while progressing, Stalled on an invalid commit', () => {
    const now = '2026-12-01T00:00:00Z';
    const by = (cs: ReturnType<typeof conditionsFor>) => Object.fromEntries(cs.map((c) => [c.type, `${c.status}/${c.reason}`]));
    expect(by(conditionsFor({ sync: 'Synced', health: 'Current', message: 'ok', errors: [], now }))).toEqual({ Ready: 'True/Succeeded', Reconciling: 'False/Idle', Stalled: 'False/Idle' });
    expect(by(conditionsFor({ sync: 'Synced', health: 'Progressing', message: 'rolling', errors: [], now }))).toMatchObject({ Ready: 'False/Progressing', Reconciling: 'True/Progressing' });
    expect(by(conditionsFor({ sync: 'Failed', health: 'Current', message: 'bad', errors: [{ rule: 'schema/unknown-field' }], now }))).toMatchObject({ Ready: 'False/InvalidCommit', Stalled: 'True/InvalidCommit' });
    expect(by(conditionsFor({ sync: 'Failed', health: 'Current', message: '503', errors: [{ rule: 'apply/failed' }], now }))).toMatchObject({ Ready: 'False/ReconcileFailed', Stalled: 'False/Idle' });
    // An aborted release keeps a workload off git's template: not Ready, and not stalled (a new commit fixes it).
    expect(by(conditionsFor({ sync: 'OutOfSync', health: 'Current', message: 'held back', errors: [], now, heldBack: 1 }))).toEqual({ Ready: 'False/ReleaseAborted', Reconciling: 'False/Idle', Stalled: 'False/Idle' });
    // The transition time stays while the status does not change.
    const later = conditionsFor({ sync: 'Synced', health: 'Current', message: 'ok', errors: [], now: '2026-12-02T00:00:00Z', previous: conditionsFor({ sync: 'Synced', health: 'Current', message: 'ok', errors: [], now }) });
    expect(later.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(now);
  });

  it('summarizes releases in progress for the printer column', () => {
    expect(releaseSummary([])).toBe('');
    expect(releaseSummary([{ id: 'x', workload: 'CloneSet shop/web', step: 2, steps: 4, phase: 'Progressing', waitingOn: 'bake 5m' }])).toBe('web 2/4 (bake 5m)');
    expect(releaseSummary([{ id: 'x', workload: 'CloneSet shop/web', step: 2, steps: 4, phase: 'Completed' }])).toBe('');
  });

  it('routes a push to the Apps of its repo and ref', () => {
    expect(repoMatches('github.com/acme/shop', 'acme/shop')).toBe(true);
    expect(repoMatches('github.com/acme/shop', 'https://github.com/acme/shop.git')).toBe(true);
    expect(repoMatches('github.com/acme/shop', 'acme/shopfront')).toBe(false);
    expect(refMatches('main', 'refs/heads/main')).toBe(true);
    expect(refMatches('refs/heads/main', 'refs/heads/main')).toBe(true);
    expect(refMatches('main', 'refs/heads/dev')).toBe(false);
  });
});
