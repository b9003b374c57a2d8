/**
 * The App resource (apps.kgitops.io/v1alpha1): one app of one tenant, declared in the tenant's
 * namespace. The schemas below are the one source of truth: the TypeScript types are derived
 * from them (TypeBox's Static), the CRD's OpenAPI schema is generated from them
 * (schemas/generate-app-crd.ts -> schemas/kgitops.io_apps.yaml, committed), and the controller
 * checks every App against them before it reconciles it.
 *
 * An App is also the ApplySet parent of its objects (KEP-3659 allows a custom resource as the
 * parent): members carry `applyset.kubernetes.io/part-of: <appApplySetId(app)>`, and the
 * inventory and history live in the App's status, as Flux keeps a Kustomization's inventory. The
 * controller writes the status with its own identity; tenants need no right on it, and one App's
 * ServiceAccount cannot read or write another App's state.
 */
import { createHash } from 'node:crypto';
import { type Static, type TSchema, Type } from '@sinclair/typebox';

export const APP_GROUP = 'kgitops.io';
export const APP_VERSION = 'v1alpha1';
export const APP_API_VERSION = `${APP_GROUP}/${APP_VERSION}`;
export const APP_KIND = 'App';
export const APP_PLURAL = 'apps';
/** Deleting an App waits for its objects to be pruned (or orphaned: prune.enabled false). */
export const APP_FINALIZER = 'kgitops.io/prune';

const enumOf = <T extends string>(values: readonly T[], description: string) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], description });

const duration = (description: string) => Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$', description });

export const AppSourceSpec = Type.Object({
  repo: Type.String({ minLength: 1, description: 'Git URL (https://, ssh://, git@host:path) of the repo.' }),
  ref: Type.Optional(Type.String({ minLength: 1, description: 'Branch, tag or commit. Default: the remote\'s default branch (its HEAD).' })),
  path: Type.Optional(Type.String({ minLength: 1, description: 'Directory in the repo with cdk8s.yaml. Default: the repo root (.).' })),
  interval: Type.Optional(duration('How often the repo is fetched when no webhook arrives. Default: 5m.')),
  secretRef: Type.Optional(Type.Object({
    name: Type.String({ minLength: 1, description: 'A Secret in the App\'s own namespace: key `token` (https) or `identity` (an SSH private key) and optionally `known_hosts`.' }),
  }, { description: 'Credentials for the repo. Never read from another namespace.' })),
}, { description: 'Where the app comes from.' });

export const NotificationSpec = Type.Object({
  // Type.String with enum (not enumOf): the spec is checked with Value.Errors, which does not know Unsafe types.
  type: Type.String({ enum: ['webhook', 'slack', 'github'], description: 'webhook: a POST of each event as JSON; slack: a Slack-compatible incoming webhook; github: commit statuses.' }),
  url: Type.Optional(Type.String({ description: 'webhook: where events are POSTed.' })),
  secretRef: Type.Optional(Type.Object({
    name: Type.String({ minLength: 1 }),
    key: Type.Optional(Type.String({ minLength: 1, description: 'Default: token (webhook: sent as a bearer token; github: the API token), address (slack: the incoming webhook URL).' })),
  }, { description: 'A Secret in the App\'s namespace, read as the App\'s ServiceAccount.' })),
  repo: Type.Optional(Type.String({ description: 'github: owner/name. Default: spec.source.repo, when it is on github.com.' })),
  apiUrl: Type.Optional(Type.String({ description: 'github: the API. Default: https://api.github.com (GitHub Enterprise: https://host/api/v3).' })),
  events: Type.Optional(Type.Array(Type.String({ enum: ['applied', 'failed', 'release'], description: 'applied: a commit with changes applied; failed: a reconcile failed; release: a release started, moved a step, paused, completed or was aborted.' }), { description: 'Default: all.' })),
});

export const AppSpec = Type.Object({
  source: AppSourceSpec,
  serviceAccountName: Type.Optional(Type.String({ minLength: 1, description: 'The ServiceAccount (in the App\'s namespace) every read and write of this App impersonates. Default: the controller\'s --default-service-account.' })),
  targetNamespace: Type.Optional(Type.String({ minLength: 1, description: 'Namespace for objects that name none. Default: the App\'s namespace.' })),
  prune: Type.Optional(Type.Object({
    enabled: Type.Optional(Type.Boolean({ description: 'Delete objects that left git, and every object when the App is deleted. Default: true.' })),
    maxFraction: Type.Optional(Type.Number({ minimum: 0.001, maximum: 1, description: 'Refuse to prune more than this fraction of the objects in one commit. Default: 0.5.' })),
  })),
  suspend: Type.Optional(Type.Boolean({ description: 'Stop reconciles and releases until set back to false.' })),
  timeout: Type.Optional(duration('Longest a synth of one commit may take. Default: 120s.')),
  notifications: Type.Optional(Type.Array(NotificationSpec, { description: 'Who hears of applied and failed commits and of release steps. Failed sends are retried with backoff.' })),
  approvers: Type.Optional(Type.Object({
    sshAllowedSigners: Type.Optional(Type.String({ description: 'Allowed-signers lines (git\'s ssh format) of who may approve release steps with signed commits in approvals.yaml. Unset: git approvals are off.' })),
  })),
});

export const Condition = Type.Object({
  type: Type.String(),
  status: enumOf(['True', 'False', 'Unknown'] as const, 'True, False or Unknown.'),
  reason: Type.String(),
  message: Type.String(),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  observedGeneration: Type.Optional(Type.Integer()),
});

const ObjectRefStatus = Type.Object({
  apiVersion: Type.String(), kind: Type.String(), name: Type.Optional(Type.String()), namespace: Type.Optional(Type.String()),
});

export const ReconcileError = Type.Object({
  rule: Type.String(),
  message: Type.String(),
  hint: Type.Optional(Type.String()),
  object: Type.Optional(ObjectRefStatus),
  path: Type.Optional(Type.String({ description: 'JSON path in the object.' })),
  constructPath: Type.Optional(Type.String()),
  source: Type.Optional(Type.String({ description: 'file:line of the construct.' })),
});

const Changes = Type.Object({
  created: Type.Integer(), updated: Type.Integer(), pruned: Type.Integer(), unchanged: Type.Integer(), driftCorrected: Type.Integer(),
});

export const InventoryItem = Type.Object({
  id: Type.String({ description: '<group-kind>/<namespace>/<name>' }),
  v: Type.String({ description: 'apiVersion' }),
  hash: Type.String({ description: 'Hash of the desired manifest last applied.' }),
  generation: Type.Optional(Type.Integer()),
  resourceVersion: Type.Optional(Type.String()),
});

export const ObjectHealth = Type.Object({
  id: Type.String(), apiVersion: Type.String(), kind: Type.String(), name: Type.String(), namespace: Type.Optional(Type.String()),
  health: Type.String(), message: Type.String(),
});

export const HistoryItem = Type.Object({
  commit: Type.String(), time: Type.String(), durationMs: Type.Integer(),
  result: enumOf(['Succeeded', 'Failed', 'Interrupted'] as const, 'How the reconcile ended.'),
  message: Type.String(), changes: Changes,
  drift: Type.Optional(Type.Array(Type.Object({ id: Type.String(), fields: Type.Array(Type.String()), managers: Type.Array(Type.String()) }))),
  historyRewritten: Type.Optional(Type.Boolean()),
  notWritten: Type.Optional(Type.Array(Type.Object({ id: Type.String(), reason: Type.String() }))),
});

export const ReleaseStatus = Type.Object({
  id: Type.String(),
  workload: Type.String({ description: 'Kind namespace/name' }),
  step: Type.Integer({ description: 'The step in progress, from 1.' }),
  steps: Type.Integer(),
  phase: Type.String(),
  waitingOn: Type.Optional(Type.String({ description: 'What the step waits on: a gate, an approval, a window.' })),
});

export const HeldBack = Type.Object({
  id: Type.String(),
  workload: Type.String({ description: 'Kind namespace/name' }),
  release: Type.String({ description: 'The aborted release.' }),
  declaredRevision: Type.String({ description: 'The template revision git declares, which the cluster does not run.' }),
  runningRevision: Type.String({ description: 'The template revision the cluster runs, from before the release.' }),
  reason: Type.Optional(Type.String()),
}, { description: 'A workload kept on its previous template after its release was aborted, until a new commit.' });

export const FleetClusterStatus = Type.Object({
  name: Type.String(),
  wave: Type.Optional(Type.String({ description: 'The wave the cluster belongs to (the first that selects it).' })),
  target: Type.Optional(Type.String({ description: 'The commit the fleet release gives the cluster.' })),
  commit: Type.Optional(Type.String({ description: 'The commit the cluster last applied.' })),
  reachable: Type.Boolean(),
  sync: Type.Optional(Type.String()),
  health: Type.Optional(Type.String()),
  waitingOn: Type.Optional(Type.String({ description: 'What the cluster still waits for before its wave can be done.' })),
  message: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.String())),
});

export const FleetStatus = Type.Object({
  // No `properties: {}`: the apiserver drops an empty map from a stored CRD, and the CRD would
  // then differ from what was applied (another field manager's apply of it conflicts).
  release: Type.Unsafe<Record<string, unknown>>({
    type: 'object', 'x-kubernetes-preserve-unknown-fields': true,
    description: 'The fleet release: its commit, phase, wave, the waves\' gates, and the commit each cluster is to run (engine/fleet/state.ts).',
  }),
  clusters: Type.Array(FleetClusterStatus),
  problems: Type.Optional(Type.Array(Type.String({ description: 'A cluster Secret that cannot be used, and why.' }))),
}, { description: 'The App\'s fleet (a Fleet in its code): written by the controller, field manager kgitops-fleet.' });

export const AppStatus = Type.Object({
  observedGeneration: Type.Optional(Type.Integer()),
  conditions: Type.Optional(Type.Array(Condition, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })),
  appliedCommit: Type.Optional(Type.String({ description: 'The commit the cluster runs (the last good one).' })),
  attemptedCommit: Type.Optional(Type.String({ description: 'The commit of the last attempt, which may have failed.' })),
  ref: Type.Optional(Type.String()),
  defaultBranch: Type.Optional(Type.Boolean({ description: 'No ref is configured: ref is the remote\'s default branch.' })),
  commit: Type.Optional(Type.String({ description: 'The applied commit, short (printer column).' })),
  sync: Type.Optional(Type.String({ description: 'Synced, OutOfSync, Failed, Progressing or Suspended.' })),
  health: Type.Optional(Type.String()),
  release: Type.Optional(Type.String({ description: 'Releases in progress, in one phrase (printer column).' })),
  serviceAccount: Type.Optional(Type.String({ description: 'The identity the last reconcile acted as.' })),
  heldBy: Type.Optional(Type.Object({
    replica: Type.String({ description: 'The controller replica that reconciles the App.' }),
    shard: Type.Integer({ description: 'The App\'s shard (a Lease kgitops-shard-<n> in the controller\'s namespace).' }),
  })),
  message: Type.Optional(Type.String()),
  lastReconcile: Type.Optional(Type.Object({
    time: Type.String(), commit: Type.Optional(Type.String()), result: Type.String(), durationMs: Type.Integer(), message: Type.String(),
    changes: Type.Optional(Changes),
    errors: Type.Optional(Type.Array(ReconcileError)),
  })),
  warnings: Type.Optional(Type.Array(ReconcileError)),
  inventory: Type.Optional(Type.Object({
    size: Type.Integer(),
    groupKinds: Type.Array(Type.String()),
    namespaces: Type.Array(Type.String()),
    entries: Type.Array(InventoryItem),
    readable: Type.Optional(Type.Boolean()),
  })),
  objects: Type.Optional(Type.Array(ObjectHealth)),
  history: Type.Optional(Type.Array(HistoryItem)),
  releases: Type.Optional(Type.Array(ReleaseStatus)),
  heldBack: Type.Optional(Type.Array(HeldBack, { description: 'Workloads whose aborted release keeps git\'s template off the cluster: the App is OutOfSync until a new commit.' })),
  fleet: Type.Optional(FleetStatus),
  dependencies: Type.Optional(Type.Object({
    commit: Type.String(),
    files: Type.Array(Type.String(), { description: 'Files outside the app path the commit\'s synth read (repo-relative).' }),
  }, { description: 'What the last render depended on: a commit that touches none of it, nor the app path, is not synthesized again.' })),
});

export type AppSpec = Static<typeof AppSpec>;
export type AppStatus = Static<typeof AppStatus>;
export type AppCondition = Static<typeof Condition>;
export type ReleaseStatus = Static<typeof ReleaseStatus>;

export interface AppObject {
  apiVersion: typeof APP_API_VERSION;
  kind: typeof APP_KIND;
  metadata: {
    name: string; namespace: string; uid?: string; generation?: number; resourceVersion?: string;
    deletionTimestamp?: string; finalizers?: string[]; labels?: Record<string, string>; annotations?: Record<string, string>;
    creationTimestamp?: string;
  };
  spec: AppSpec;
  status?: AppStatus;
}

/** `namespace/name`: an App's key in the queue, the mirror and the log. */
export function appKey(app: { metadata: { namespace?: string; name: string } }): string {
  return `${app.metadata.namespace ?? ''}/${app.metadata.name}`;
}

/** The ApplySet id of an App parent: applyset-<base64url(sha256(name.namespace.App.kgitops.io))>-v1 (KEP-3659). */
export function appApplySetId(namespace: string, name: string): string {
  const digest = createHash('sha256').update(`${name}.${namespace}.${APP_KIND}.${APP_GROUP}`).digest('base64url');
  return `applyset-${digest}-v1`;
}

/** Strips what JSON Schema tools add and Kubernetes' structural schemas refuse. */
function structural(s: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s, (k, v) => (k === '$id' ? undefined : v)));
}

/** The CustomResourceDefinition of App, as `kgitops install` applies it. */
export function appCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${APP_PLURAL}.${APP_GROUP}`,
      // KEP-3659: kubectl may treat Apps as ApplySet parents.
      labels: { 'applyset.kubernetes.io/is-parent-type': 'true', 'app.kubernetes.io/part-of': 'kgitops' },
    },
    spec: {
      group: APP_GROUP,
      names: { kind: APP_KIND, listKind: `${APP_KIND}List`, plural: APP_PLURAL, singular: 'app', shortNames: ['kga'], categories: ['kgitops'] },
      scope: 'Namespaced',
      versions: [{
        name: APP_VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Commit', type: 'string', jsonPath: '.status.commit' },
          { name: 'Sync', type: 'string', jsonPath: '.status.sync' },
          { name: 'Health', type: 'string', jsonPath: '.status.health' },
          { name: 'Release', type: 'string', jsonPath: '.status.release' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'An app of one tenant: a path of a git repo, synthesized, validated and applied as the App\'s ServiceAccount.',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: structural(AppSpec),
              status: structural(AppStatus),
            },
          },
        },
      }],
    },
  };
}
