import { describe, expect, it } from 'vitest';
import { ANNOTATION_RELEASE_PLAN } from '../../../dsl/release.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { ANNOTATION_RELEASE_STATE } from '../../../engine/release/state.js';
import { appMain, appsMain, esc } from '../../../engine/ui/html.js';
import { releaseView } from '../../../engine/ui/view.js';
import { appliedChange } from '../../../engine/diff/index.js';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const measure = { intervalSeconds: 30, count: 3, failureLimit: 0, consecutiveErrorLimit: 4, inconclusiveLimit: 0 };
const plan = {
  version: 1, onFailure: 'pause',
  steps: [
    { target: '25%', gates: [{ type: 'podsReady' }, { type: 'bake', seconds: 300 }] },
    { target: '100%', gates: [{ type: 'metric', name: 'errors', prometheus: 'http://prom:9090', query: 'q', successCondition: 'result < 0.01', ...measure }, { type: 'approval' }] },
  ],
  always: [{ type: 'window', mode: 'deny', schedule: '0 12 * * 5', durationSeconds: 66 * 3600, timeZone: 'UTC' }],
};
const state = {
  id: 'shop/web@abc123abc1', revision: 'abc123abc1', previousRevision: 'def456def4', phase: 'Progressing', step: 1, steps: 2,
  startedAt: '2026-12-02T09:00:00Z', stepStartedAt: '2026-12-02T09:50:00Z', podsReadyAt: '2026-12-02T09:58:00Z',
  gates: {
    '1/0': { status: 'Pending', message: '1 of 3 measurements', since: '2026-12-02T09:58:00Z', measurement: { measurements: [{ at: '2026-12-02T09:59:00Z', phase: 'Successful', value: 0.002, message: 'result 0.002' }, { at: '2026-12-02T09:59:30Z', phase: 'Successful', value: [0.004], message: 'result 0.004' }], successful: 2, failed: 0, inconclusive: 0, errors: 0, consecutiveErrors: 0 } },
    '1/1': { status: 'Pending', message: 'waiting for an approval', since: '2026-12-02T09:58:00Z' },
    'always/0': { status: 'Passed', message: 'outside the window', since: '2026-12-02T09:00:00Z' },
  },
  approvals: [{ step: 0, by: 'alice@example.com', at: '2026-12-02T09:40:00Z', via: 'cli' }],
  history: [{ at: '2026-12-02T09:00:00Z', step: 0, reason: 'ReleaseStarted', message: 'started <script>' }],
};

function cloneSet(annotations: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'shop', annotations },
    spec: { replicas: 8 }, status: { replicas: 8, updatedReplicas: 2, updatedReadyReplicas: 1, readyReplicas: 7 },
  };
}

describe('releaseView', () => {
  it('draws steps and gates from the plan and state annotations, and pods from the status', () => {
    const v = releaseView(cloneSet({ [ANNOTATION_RELEASE_PLAN]: JSON.stringify(plan), [ANNOTATION_RELEASE_STATE]: JSON.stringify(state) }), NOW)!;
    expect(v).toMatchObject({ workload: 'CloneSet shop/web', id: 'shop/web@abc123abc1', phase: 'Progressing', step: 2, pods: { desired: 8, updated: 2, updatedReady: 1, ready: 7 } });
    expect(v.steps.map((s) => [s.index, s.target, s.targetPods, s.state])).toEqual([[1, '25%', 2, 'done'], [2, '100%', 8, 'current']]);
    // A past step's gates passed; the current one's come from the state.
    expect(v.steps[0]!.gates.map((g) => g.status)).toEqual(['Passed', 'Passed', 'Passed']);
    const [metric, approval, window] = v.steps[1]!.gates;
    expect(metric).toMatchObject({ type: 'metric', status: 'Pending', condition: 'result < 0.01' });
    expect(metric!.measurements!.map((m) => m.value)).toEqual([0.002, 0.004]);
    expect(approval).toMatchObject({ type: 'approval', status: 'Pending', message: 'waiting for an approval' });
    // Friday 12:00 UTC + 66 h is the deny window; Wednesday 10:00 is outside it: open.
    expect(window!.window).toEqual({ open: true, changesAt: '2026-12-04T12:00:00.000Z' });
    expect(v.approvals).toEqual([{ step: 1, by: 'alice@example.com', at: '2026-12-02T09:40:00Z', via: 'cli' }]);
  });

  it('the bake countdown ends its seconds after the pods were ready; a step not reached waits', () => {
    const v = releaseView(cloneSet({ [ANNOTATION_RELEASE_PLAN]: JSON.stringify(plan), [ANNOTATION_RELEASE_STATE]: JSON.stringify({ ...state, step: 0, gates: {} }) }), NOW)!;
    expect(v.steps[0]!.gates[1]).toMatchObject({ type: 'bake', bakeEndsAt: '2026-12-02T10:03:00.000Z' });
    expect(v.steps[1]!.gates.map((g) => g.status)).toEqual(['Waiting', 'Waiting', 'Waiting']);
  });

  it('no state: no release; a state that does not read: the problem, and the release stopped', () => {
    expect(releaseView(cloneSet({ [ANNOTATION_RELEASE_PLAN]: JSON.stringify(plan) }), NOW)).toBeUndefined();
    const broken = releaseView(cloneSet({ [ANNOTATION_RELEASE_STATE]: '{not json' }), NOW)!;
    expect(broken.phase).toBe('Unreadable');
    expect(broken.problem).toBeTruthy();
  });
});

describe('the pages', () => {
  it('escape what comes from the cluster and the repo', () => {
    expect(esc('<img src=x onerror="a">&\'')).toBe('&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;');
    const app = {
      apiVersion: 'kgitops.io/v1alpha1' as const, kind: 'App' as const, metadata: { name: 'shop', namespace: 'team-a' },
      spec: { source: { repo: 'https://example.com/<b>.git' } }, status: { sync: 'Synced', health: 'Current', message: '<script>alert(1)</script>', commit: 'abc' },
    };
    const list = appsMain([app as never]);
    expect(list).not.toContain('<script>alert');
    expect(list).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const v = releaseView(cloneSet({ [ANNOTATION_RELEASE_PLAN]: JSON.stringify(plan), [ANNOTATION_RELEASE_STATE]: JSON.stringify(state) }), NOW)!;
    const one = appMain(app as never, { releases: [v] });
    expect(one).not.toContain('<b>');
    expect(one).not.toContain('started <script>');
    // The current step's actions, each with a confirmation.
    expect(one).toMatch(/data-action="approve"[^>]*data-confirm="Approve step 2 of release shop\/web@abc123abc1\?"/);
    expect(one).toContain('data-action="pause"');
    expect(one).toContain('data-action="abort"');
  });
});

describe('the last applied change', () => {
  const app = { apiVersion: 'kgitops.io/v1alpha1' as const, kind: 'App' as const, metadata: { name: 'shop', namespace: 'team-a' }, spec: { source: { repo: 'r' } }, status: {} };
  const web = (image: string, note: string) => ({
    constructPath: 'shop/web', source: 'main.ts:12',
    manifest: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'shop', annotations: { note } }, spec: { replicas: 2, template: { spec: { containers: [{ name: 'web', image }] } } } },
  });
  const cm = { constructPath: 'shop/cfg', manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop' }, data: { a: '1' } } };

  it('marks the fields a release acts on, escapes what the repo wrote, and opens the objects a reviewer looks at first', () => {
    const change = appliedChange('shop', { sha: 'a'.repeat(40), objects: [web('web:1.0', 'x'), cm] as never }, { sha: 'b'.repeat(40), objects: [web('web:1.1', '<img src=x onerror=alert(1)>')] as never });
    const html = appMain(app as never, { releases: [], change: { change } });
    expect(html).toContain('commit aaaaaaaaaaaa → <strong>commit bbbbbbbbbbbb</strong>: 1 changed, 0 added, 1 removed, 0 unchanged');
    expect(html).toContain('<span class="rel" title="a release acts on this field">release: image</span> ~ spec.template.spec.containers[name=web].image: web:1.0 → web:1.1');
    // The annotation is not release-relevant, and what the repo wrote stays text.
    expect(html).toMatch(/<li>~ metadata\.annotations\.note: x → &lt;img src=x onerror=alert\(1\)&gt;<\/li>/);
    expect(html).not.toContain('<img');
    // The CloneSet (release-relevant) is open; the removed ConfigMap is not.
    expect(html).toMatch(/<details class="change" data-change="changed" open>[\s\S]*?CloneSet <code>shop\/web<\/code> <span class="rel">1 release-relevant<\/span> <span class="note">construct shop\/web, main\.ts:12<\/span>/);
    expect(html).toMatch(/<details class="change" data-change="removed">[\s\S]*?ConfigMap <code>shop\/cfg<\/code>/);
    expect(html).toContain('<span class="del">-        - image: web:1.0</span>');
  });

  it('says when it is being rendered again, or why it is not known', () => {
    expect(appMain(app as never, { releases: [], change: { recalling: true } })).toContain('Rendering the commit applied before this one again');
    expect(appMain(app as never, { releases: [], change: { note: 'another controller replica holds this App' } })).toContain('another controller replica holds this App');
    const first = appliedChange('shop', undefined, { sha: 'b'.repeat(40), objects: [cm] as never });
    expect(appMain(app as never, { releases: [], change: { change: first } })).toContain('nothing applied → <strong>commit bbbbbbbbbbbb</strong>: 0 changed, 1 added, 0 removed');
  });
});

describe('a UnitedDeployment release', () => {
  it('splits the pods by subset: what each may run of the new revision, its partition and ready pods', async () => {
    const { podCounts } = await import('../../../engine/ui/view.js');
    const ud = {
      apiVersion: 'apps.kruise.io/v1alpha1', kind: 'UnitedDeployment', metadata: { name: 'cart', namespace: 'shop' },
      spec: { replicas: 9, topology: { subsets: [{ name: 'zone-a' }, { name: 'zone-b' }, { name: 'zone-c' }] }, updateStrategy: { manualUpdate: { partitions: { 'zone-a': 0, 'zone-b': 3, 'zone-c': 3 } } } },
      status: {
        replicas: 9, readyReplicas: 8, updatedReplicas: 3, updatedReadyReplicas: 3,
        subsetReplicas: { 'zone-c': 3, 'zone-a': 3, 'zone-b': 3 },
        // In effect: zone-b's partition asked for (3) is not yet, Kruise still has 1.
        updateStatus: { currentPartitions: { 'zone-a': 0, 'zone-b': 1, 'zone-c': 3 } },
        subsetStatuses: [{ name: 'zone-a', replicas: 3, readyReplicas: 3 }, { name: 'zone-b', replicas: 3, readyReplicas: 2 }],
      },
    } as unknown as KubeObject;
    expect(podCounts(ud).subsets).toEqual([
      { name: 'zone-a', pods: 3, partition: 0, newRevision: 3, ready: 3 },
      { name: 'zone-b', pods: 3, partition: 1, newRevision: 2, ready: 2 },
      { name: 'zone-c', pods: 3, partition: 3, newRevision: 0 },
    ]);
    expect(podCounts(cloneSet({})).subsets).toBeUndefined();
  });
});
