/**
 * Admission as a cluster with OpenKruise v1.9 runs it on create and update (API-NOTES §4): the
 * mutating webhooks' spec defaults, then the validating webhooks' rules (dsl/rules.ts, the same
 * rules the DSL checks at synth time), plus the apiserver's own defaults for the core workloads
 * it simulates. Defaulted fields are owned by no field manager, as on a real cluster.
 *
 * Not simulated: pod-template defaulting (SetDefaultPodSpec), which on a real cluster fills
 * restartPolicy, dnsPolicy, terminationMessagePath and friends into every template.
 */
import { RequestError } from '../errors.js';
import type { KubeObject } from '../types.js';
import { checkRules } from '../../../dsl/rules.js';
import { SchemaValidator } from '../../validate/schema.js';
import { isPlainObject } from './fields.js';

function obj(parent: Record<string, any>, key: string): Record<string, any> {
  if (!isPlainObject(parent[key])) parent[key] = {};
  return parent[key];
}

function def(o: Record<string, any>, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

type Defaulter = (o: KubeObject) => void;

const DEFAULTS: Record<string, Defaulter> = {
  'CloneSet.apps.kruise.io': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'replicas', 1);
    def(spec, 'revisionHistoryLimit', 10);
    const us = obj(spec, 'updateStrategy');
    def(us, 'type', 'ReCreate');
    def(us, 'partition', 0);
    def(us, 'maxUnavailable', '20%');
    def(us, 'maxSurge', 0);
    if (us.type !== 'ReCreate') def(us, 'inPlaceUpdateStrategy', {});
  },
  'StatefulSet.apps.kruise.io': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'replicas', 1);
    def(spec, 'revisionHistoryLimit', 10);
    def(spec, 'podManagementPolicy', 'OrderedReady');
    const us = obj(spec, 'updateStrategy');
    def(us, 'type', 'RollingUpdate');
    if (us.type === 'RollingUpdate') {
      const ru = obj(us, 'rollingUpdate');
      def(ru, 'partition', 0);
      def(ru, 'maxUnavailable', 1);
      def(ru, 'podUpdatePolicy', 'ReCreate');
      def(ru, 'minReadySeconds', 0);
    }
    if (o.apiVersion.endsWith('/v1beta1')) {
      const pvc = obj(spec, 'persistentVolumeClaimRetentionPolicy');
      def(pvc, 'whenDeleted', 'Retain');
      def(pvc, 'whenScaled', 'Retain');
    }
  },
  'DaemonSet.apps.kruise.io': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'burstReplicas', 250);
    def(spec, 'revisionHistoryLimit', 10);
    const us = obj(spec, 'updateStrategy');
    def(us, 'type', 'RollingUpdate');
    if (us.type === 'RollingUpdate') {
      const ru = obj(us, 'rollingUpdate');
      def(ru, 'rollingUpdateType', 'Standard');
      if (ru.maxUnavailable === undefined && ru.maxSurge === undefined) {
        ru.maxUnavailable = 1;
        ru.maxSurge = 0;
      }
    }
  },
  'SidecarSet.apps.kruise.io': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'revisionHistoryLimit', 10);
    const us = obj(spec, 'updateStrategy');
    def(us, 'type', 'RollingUpdate');
    def(us, 'maxUnavailable', 1);
    def(us, 'partition', 0);
    for (const [list, policy] of [['containers', 'BeforeAppContainer'], ['initContainers', 'AfterAppContainer']] as const) {
      for (const c of spec[list] ?? []) {
        if (!isPlainObject(c)) continue;
        def(c, 'podInjectPolicy', policy);
        def(obj(c, 'upgradeStrategy'), 'upgradeType', 'ColdUpgrade');
        def(obj(c, 'shareVolumePolicy'), 'type', 'disabled');
      }
    }
  },
  'UnitedDeployment.apps.kruise.io': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'revisionHistoryLimit', 10);
    const us = obj(spec, 'updateStrategy');
    def(us, 'type', 'Manual');
    def(us, 'manualUpdate', {});
  },
  'BroadcastJob.apps.kruise.io': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'parallelism', 2147483647);
    def(obj(spec, 'completionPolicy'), 'type', 'Always');
    def(obj(spec, 'failurePolicy'), 'type', 'FailFast');
  },
  'AdvancedCronJob.apps.kruise.io': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'concurrencyPolicy', 'Allow');
    def(spec, 'paused', false);
    def(spec, 'successfulJobsHistoryLimit', 3);
    def(spec, 'failedJobsHistoryLimit', 1);
  },
  'Deployment.apps': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'replicas', 1);
    def(spec, 'revisionHistoryLimit', 10);
    def(spec, 'progressDeadlineSeconds', 600);
    const st = obj(spec, 'strategy');
    def(st, 'type', 'RollingUpdate');
    if (st.type === 'RollingUpdate') {
      const ru = obj(st, 'rollingUpdate');
      def(ru, 'maxUnavailable', '25%');
      def(ru, 'maxSurge', '25%');
    }
  },
  'StatefulSet.apps': (o) => {
    const spec = obj(o, 'spec');
    def(spec, 'replicas', 1);
    def(spec, 'revisionHistoryLimit', 10);
    def(spec, 'podManagementPolicy', 'OrderedReady');
    const us = obj(spec, 'updateStrategy');
    def(us, 'type', 'RollingUpdate');
    if (us.type === 'RollingUpdate') def(obj(us, 'rollingUpdate'), 'partition', 0);
    const pvc = obj(spec, 'persistentVolumeClaimRetentionPolicy');
    def(pvc, 'whenDeleted', 'Retain');
    def(pvc, 'whenScaled', 'Retain');
  },
  Namespace: (o) => {
    // The apiserver labels every namespace with its own name (used by namespaceSelectors) and
    // creates it Active.
    o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
    if (!o.status?.phase) o.status = { ...(o.status ?? {}), phase: 'Active' };
  },
};

/**
 * Applies the defaults for a kind (mutates `o`): the apiserver's always, Kruise's mutating
 * webhooks' only when `kruiseWebhooks` (Kruise installed, admission on).
 */
export function applyDefaults(gk: string, o: KubeObject, kruiseWebhooks: boolean): void {
  if (gk.endsWith('.kruise.io') && !kruiseWebhooks) return;
  DEFAULTS[gk]?.(o);
}

/** The validating webhooks: throws RequestError 422 listing every violated rule. */
export function validate(o: KubeObject, verb: string, resource: string): void {
  const errors = checkRules(o).filter((d) => d.severity === 'error');
  if (!errors.length) return;
  throw new RequestError(
    { verb, resource, name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) },
    422, 'Invalid',
    `admission webhook denied the request: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
  );
}

/**
 * What the apiserver itself rejects in a Kruise custom resource: a field its CRD's structural
 * schema requires that is missing or null, or a value of the wrong type or outside an enum
 * (422 Invalid, before any webhook runs). Unknown fields are not rejected: the apiserver prunes
 * them. The schemas are ours (schemas/), which also check the pod templates the CRDs leave open;
 * Kruise's validating webhooks check those on a real cluster.
 */
const APISERVER_SCHEMA_RULES = new Set(['schema/required', 'schema/type', 'schema/enum']);

export function validateSchema(o: KubeObject, verb: string, resource: string, groupKind: string): void {
  const errors = SchemaValidator.get().validate(o).filter((d) => d.severity === 'error' && APISERVER_SCHEMA_RULES.has(d.rule));
  if (!errors.length) return;
  throw new RequestError(
    { verb, resource, name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) },
    422, 'Invalid',
    `${groupKind} "${o.metadata.name}" is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join(', ')}`,
  );
}
