/**
 * The base of the Kruise kinds that are not workloads (spread, budgets, image pulls, probes,
 * pod state, distribution, container restarts, ephemeral containers): a construct that renders
 * one object, whose spec comes from `_toKube()` at synth time.
 */
import { ApiObject, type ApiObjectMetadata, type GroupVersionKind, type JsonPatch, Lazy } from 'cdk8s';
import type * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { SourceLocation } from '../source.js';
import type { IDeclared } from '../workloads/base.js';

/** Object metadata of a Kruise object (as for any cdk8s ApiObject). */
export interface KruiseObjectProps {
  readonly metadata?: ApiObjectMetadata;
}

export abstract class KruiseObject extends Construct implements IDeclared {
  /** @internal */
  public readonly _source = SourceLocation.capture();
  /**
   * The rendered object: a plain ApiObject of the kind's apiVersion and kind, the escape hatch
   * for fields this construct does not cover.
   */
  public readonly apiObject: ApiObject;

  protected constructor(scope: Construct, id: string, gvk: GroupVersionKind, props: KruiseObjectProps) {
    super(scope, id);
    this.apiObject = new ApiObject(this, 'Resource', {
      ...gvk,
      metadata: props.metadata,
      spec: Lazy.any({ produce: () => this._toKube() }),
    });
  }

  public get name(): string {
    return this.apiObject.name;
  }

  public get namespace(): string | undefined {
    return this.apiObject.metadata.namespace;
  }

  /** Patches the rendered manifest (RFC 6902), as `KruiseWorkload.addJsonPatch` does. */
  public addJsonPatch(...ops: JsonPatch[]): void {
    this.apiObject.addJsonPatch(...ops);
  }

  /** The spec, in the CRD's field names. @internal */
  public abstract _toKube(): Record<string, unknown>;
}

/** `{ apiVersion, kind, name }` of a workload, as Kruise's targetRef fields want it. */
export interface TargetReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
}

/**
 * What a targetRef can point at: a kruise-gitops workload (CloneSet, Advanced StatefulSet, ...),
 * a cdk8s-plus Deployment or StatefulSet, any ApiObject, or a plain reference.
 */
export type Targetable = { readonly apiObject: ApiObject } | kplus.AbstractPod | ApiObject | TargetReference;

export function targetRef(t: Targetable): TargetReference {
  if (t instanceof ApiObject) return { apiVersion: t.apiVersion, kind: t.kind, name: t.name };
  const o = t as { apiObject?: ApiObject; apiVersion?: string; kind?: string; name?: string };
  if (o.apiObject instanceof ApiObject) return targetRef(o.apiObject);
  return { apiVersion: o.apiVersion!, kind: o.kind!, name: o.name! };
}

/** The namespace of a target given as a construct, so that a helper puts its object beside it. */
export function namespaceOf(t: Targetable): string | undefined {
  const o = t as { apiObject?: ApiObject; metadata?: { namespace?: string } };
  if (t instanceof ApiObject) return t.metadata.namespace;
  if (o.apiObject instanceof ApiObject) return o.apiObject.metadata.namespace;
  return o.metadata?.namespace;
}
