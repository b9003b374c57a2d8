/**
 * What the simulated apiserver serves: the Kubernetes 1.32 kinds, OpenKruise v1.9 kinds when the
 * simulation has Kruise installed (both from schemas/index.json, via dsl/kinds.ts), and the kinds
 * of any CustomResourceDefinition applied to it.
 */
import { groupOf } from '../types.js';
import type { ResourceInfo } from '../types.js';
import { kindInfo, kindVersions } from '../../../dsl/kinds.js';

const KRUISE_GROUPS = new Set(['apps.kruise.io', 'policy.kruise.io']);

/** Kinds in the index that are request/response bodies or subresources, not stored resources. */
const NOT_RESOURCES = new Set([
  'DeleteOptions', 'Status', 'APIGroup', 'APIGroupList', 'APIVersions', 'APIResourceList', 'WatchEvent',
  'Scale', 'Eviction', 'Binding', 'TokenRequest', 'TokenReview', 'SelfSubjectReview', 'SubjectAccessReview',
  'SelfSubjectAccessReview', 'SelfSubjectRulesReview', 'LocalSubjectAccessReview',
]);

/**
 * Built-in kinds whose registry strategy maintains metadata.generation; other built-ins (ConfigMap,
 * Secret, Service, Pod, Namespace, ...) have none. Custom resources always have one.
 */
const BUILTIN_WITH_GENERATION = new Set([
  'Deployment.apps', 'StatefulSet.apps', 'DaemonSet.apps', 'ReplicaSet.apps', 'ReplicationController',
  'Job.batch', 'CronJob.batch', 'Ingress.networking.k8s.io', 'NetworkPolicy.networking.k8s.io',
  'PodDisruptionBudget.policy', 'HorizontalPodAutoscaler.autoscaling', 'CustomResourceDefinition.apiextensions.k8s.io',
  'MutatingWebhookConfiguration.admissionregistration.k8s.io', 'ValidatingWebhookConfiguration.admissionregistration.k8s.io',
  'ValidatingAdmissionPolicy.admissionregistration.k8s.io', 'ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io',
]);

export const isKruiseGroup = (apiVersion: string): boolean => KRUISE_GROUPS.has(groupOf(apiVersion));

/** The resource name of a core kind: Pod -> pods, Ingress -> ingresses, NetworkPolicy -> networkpolicies. */
export function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  if (k === 'endpoints') return k;
  if (/(s|x|z|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

export class Discovery {
  private readonly crds = new Map<string, ResourceInfo[]>();
  private readonly hidden: Set<string>;

  constructor(private readonly kruise: boolean, notServed: readonly string[] = []) {
    this.hidden = new Set(notServed);
  }

  resource(apiVersion: string, kind: string): ResourceInfo | undefined {
    if (this.hidden.has(`${apiVersion}/${kind}`)) return undefined;
    for (const list of this.crds.values()) {
      const hit = list.find((r) => r.apiVersion === apiVersion && r.kind === kind);
      if (hit) return hit;
    }
    if (kind.endsWith('List') || NOT_RESOURCES.has(kind)) return undefined;
    const info = kindInfo(apiVersion, kind);
    if (!info) return undefined;
    if (isKruiseGroup(apiVersion) && !this.kruise) return undefined;
    return { apiVersion, kind, plural: info.plural ?? pluralOf(kind), namespaced: info.namespaced ?? true };
  }

  /** Whether objects of a group-kind (`CloneSet.apps.kruise.io`) carry metadata.generation. */
  hasGeneration(gk: string): boolean {
    if (BUILTIN_WITH_GENERATION.has(gk)) return true;
    const dot = gk.indexOf('.');
    const group = dot === -1 ? '' : gk.slice(dot + 1);
    if (KRUISE_GROUPS.has(group)) return true;
    for (const list of this.crds.values()) if (list.some((r) => `${r.kind}.${groupOf(r.apiVersion)}` === gk)) return true;
    return false;
  }

  /** Other served apiVersions of the same group and kind (for NotServedError's hint). */
  servedVersions(apiVersion: string, kind: string): string[] {
    const group = groupOf(apiVersion);
    const out = new Set<string>();
    for (const v of kindVersions(group, kind)) if (this.resource(v.apiVersion, kind)) out.add(v.apiVersion);
    for (const list of this.crds.values()) for (const r of list) if (groupOf(r.apiVersion) === group && r.kind === kind) out.add(r.apiVersion);
    out.delete(apiVersion);
    return [...out].sort();
  }

  /** Serves the versions a CustomResourceDefinition declares (called when one is stored). */
  setCrd(crd: any): void {
    const group = crd?.spec?.group;
    const names = crd?.spec?.names;
    if (!group || !names?.kind) return;
    const plural = names.plural ?? pluralOf(names.kind);
    const namespaced = crd.spec.scope !== 'Cluster';
    const list: ResourceInfo[] = (crd.spec.versions ?? [])
      .filter((v: any) => v?.served !== false && v?.name)
      .map((v: any) => ({ apiVersion: `${group}/${v.name}`, kind: names.kind, plural, namespaced }));
    this.crds.set(crd.metadata.name, list);
  }

  removeCrd(name: string): void {
    this.crds.delete(name);
  }
}
