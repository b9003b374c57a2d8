/**
 * ResourceDistribution (apps.kruise.io/v1alpha1, cluster-scoped): copies one Secret or ConfigMap
 * into many namespaces (all, a list, or by label) and keeps the copies in sync; e.g. a registry
 * pull secret for every team namespace. Needs the ResourceDistributionGate feature gate (off by
 * default: Kruise's webhook rejects the object until it is turned on).
 */
import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import { type SelectorLike, selectorToKube } from '../workloads/common.js';
import { KruiseObject, type KruiseObjectProps } from './base.js';

/** The namespaces a ResourceDistribution writes to. */
export interface DistributionTargets {
  /** Every namespace (except Kubernetes' own and `excluded`). @default false */
  readonly allNamespaces?: boolean;
  /** These namespaces. @default none */
  readonly namespaces?: string[];
  /** Namespaces with these labels. @default none */
  readonly namespaceSelector?: SelectorLike;
  /** Never these namespaces (they cannot also be in `namespaces`). @default none */
  readonly excluded?: string[];
}

/**
 * The Secret or ConfigMap to copy: its manifest (apiVersion v1, kind, metadata.name, data). A
 * cdk8s-plus Secret or ConfigMap constructed elsewhere can be passed through `fromObject`.
 */
export class DistributedResource {
  /** A ConfigMap with this name and data. */
  static configMap(name: string, data: Record<string, string>): DistributedResource {
    return new DistributedResource({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });
  }

  /**
   * A Secret with this name, type and data (values base64, as in a Secret's `data`). Its data
   * then sits in git: prefer a sealed or external secret for credentials.
   */
  static secret(name: string, data: Record<string, string>, type = 'Opaque'): DistributedResource {
    return new DistributedResource({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type, data });
  }

  /** The manifest of a cdk8s object (a kplus.ConfigMap, kplus.Secret or ApiObject), which is then not rendered itself. */
  static fromObject(o: kplus.ConfigMap | kplus.Secret | ApiObject): DistributedResource {
    const api = o instanceof ApiObject ? o : (o as unknown as { apiObject: ApiObject }).apiObject;
    const json = api.toJson() as Record<string, any>;
    // The copy is the one that exists: the original would be an object of no namespace's.
    Construct.isConstruct(o) && o.node.scope?.node.tryRemoveChild(o.node.id);
    const { namespace: _ns, ...metadata } = json.metadata ?? {};
    return new DistributedResource({ ...json, metadata });
  }

  private constructor(readonly manifest: Record<string, unknown>) {}
}

export interface ResourceDistributionProps extends KruiseObjectProps {
  readonly resource: DistributedResource;
  readonly targets: DistributionTargets;
}

export class ResourceDistribution extends KruiseObject {
  private readonly props: ResourceDistributionProps;

  constructor(scope: Construct, id: string, props: ResourceDistributionProps) {
    super(scope, id, kruise.ResourceDistribution.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const t = this.props.targets;
    return {
      resource: this.props.resource.manifest,
      targets: {
        allNamespaces: t.allNamespaces,
        includedNamespaces: t.namespaces && { list: t.namespaces.map((name) => ({ name })) },
        excludedNamespaces: t.excluded && { list: t.excluded.map((name) => ({ name })) },
        namespaceLabelSelector: selectorToKube(t.namespaceSelector),
      },
    };
  }
}
