/**
 * Where the pods of a manifest are described: pod templates and container lists by JSON path,
 * for every workload kind kruise-gitops knows (Kruise, core and batch).
 */
import { UD_TEMPLATES } from '../../dsl/rules.js';
import type { KubeObject } from '../cluster/types.js';
import { scaleFromSpec } from '../release/preview.js';

export interface PodTemplateAt {
  readonly path: string;
  readonly template: Record<string, any>;
}

export interface ContainerAt {
  readonly path: string;
  readonly container: Record<string, any>;
}


/** The pod templates of a workload, with their JSON paths (none for kinds without pods). */
export function podTemplates(m: Record<string, any>): PodTemplateAt[] {
  const spec = m.spec;
  if (!spec || typeof spec !== 'object') return [];
  switch (m.kind) {
    case 'UnitedDeployment':
      return UD_TEMPLATES.filter((t) => spec.template?.[t]?.spec?.template)
        .map((t) => ({ path: `spec.template.${t}.spec.template`, template: spec.template[t].spec.template }));
    case 'AdvancedCronJob': {
      const t = spec.template ?? {};
      if (t.broadcastJobTemplate?.spec?.template) return [{ path: 'spec.template.broadcastJobTemplate.spec.template', template: t.broadcastJobTemplate.spec.template }];
      if (t.jobTemplate?.spec?.template) return [{ path: 'spec.template.jobTemplate.spec.template', template: t.jobTemplate.spec.template }];
      return [];
    }
    case 'CronJob':
      return spec.jobTemplate?.spec?.template ? [{ path: 'spec.jobTemplate.spec.template', template: spec.jobTemplate.spec.template }] : [];
    case 'SidecarSet':
      return [];
    default:
      return spec.template && typeof spec.template === 'object' && spec.template.spec ? [{ path: 'spec.template', template: spec.template }] : [];
  }
}

/** Every container (init containers included) of a workload, or of a SidecarSet. */
export function containersOf(m: Record<string, any>): ContainerAt[] {
  const lists: [string, any][] = m.kind === 'SidecarSet'
    ? [['spec.initContainers', m.spec?.initContainers], ['spec.containers', m.spec?.containers]]
    : podTemplates(m).flatMap((t) => [[`${t.path}.spec.initContainers`, t.template.spec?.initContainers], [`${t.path}.spec.containers`, t.template.spec?.containers]] as [string, any][]);
  return lists.flatMap(([path, list]) => (Array.isArray(list) ? list.map((container, i) => ({ path: `${path}[${i}]`, container })) : []));
}

/** Pods a workload asks for: replicas, or the sum of UnitedDeployment subsets. */
export function replicasOf(m: Record<string, any>): number | undefined {
  // DaemonSets and SidecarSets count nodes and matched pods, which only a cluster knows.
  if (!['CloneSet', 'StatefulSet', 'Deployment', 'UnitedDeployment'].includes(m.kind)) return undefined;
  return scaleFromSpec(m as KubeObject).scale.total;
}

/** The labels the pods of a workload carry. */
export function podLabels(m: Record<string, any>): Record<string, string> {
  const t = podTemplates(m)[0];
  return t?.template.metadata?.labels ?? {};
}

/** Whether a LabelSelector (matchLabels + matchExpressions) selects these labels. */
export function selectorMatches(selector: Record<string, any> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const ml: Record<string, string> = selector.matchLabels ?? {};
  const exprs: any[] = selector.matchExpressions ?? [];
  if (Object.keys(ml).length === 0 && exprs.length === 0) return false; // an empty selector is not a budget for anything in particular
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  for (const e of exprs) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values: string[] = e.values ?? [];
    switch (e.operator) {
      case 'In': if (!has || !values.includes(labels[e.key])) return false; break;
      case 'NotIn': if (has && values.includes(labels[e.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}
