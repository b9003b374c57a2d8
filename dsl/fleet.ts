/**
 * Fleets: one commit promoted cluster by cluster, in ordered waves. Each wave is a set of
 * registered clusters (by name or by labels); the gates of a wave are evaluated after the wave
 * before it is done (every cluster synced, healthy, its releases complete) and before it starts,
 * with the same types and meaning as a release step's gates: bake, metric, http, approval, window.
 *
 *   new Fleet(chart, 'fleet', Fleet.waves(
 *     Wave.clusters({ env: 'staging' }),
 *     Wave.clusters({ env: 'prod', region: 'eu' }).after(Gate.bake(Duration.hours(1)), Gate.approval()),
 *     Wave.clusters({ env: 'prod' }),
 *   ));
 *
 * A cluster belongs to the first wave that selects it, so the last wave above is the rest of
 * prod. The plan renders as a FleetPlan object (kgitops.io/v1alpha1), validated with the rest of
 * the app and shown by `kgitops synth` and `kgitops diff`; the controller reads it and never
 * applies it to a cluster.
 */
import { ApiObject, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { FLEET_PLAN_API_VERSION, FLEET_PLAN_KIND, type FleetPlanSpec, type WaveSpec } from './fleet-plan.js';
import type { Gate } from './release.js';
import { SourceLocation } from './source.js';
import type { IDeclared } from './workloads/base.js';

export class Wave {
  /** The registered clusters carrying every one of these labels (`kgitops.io/cluster` Secrets' labels). */
  static clusters(matchLabels: Record<string, string>): Wave {
    return new Wave({ clusters: { matchLabels: { ...matchLabels } }, gates: [] });
  }

  /** The registered clusters of these names. */
  static named(...names: string[]): Wave {
    return new Wave({ clusters: { names: [...names] }, gates: [] });
  }

  private constructor(private readonly w: Omit<WaveSpec, 'name'> & { name?: string }) {}

  /** Gates that must hold before this wave starts, once the wave before it is done. */
  after(...gates: Gate[]): Wave {
    return new Wave({ ...this.w, gates: [...this.w.gates, ...gates.map((g) => g.spec)] });
  }

  /** At most `n` of the wave's clusters at a time; the next starts when one is done. */
  maxParallel(n: number): Wave {
    return new Wave({ ...this.w, maxParallel: n });
  }

  /** A name for the wave (status, `kgitops approve --wave`): default `wave-<n>`. */
  called(name: string): Wave {
    return new Wave({ ...this.w, name });
  }

  /** @internal */
  _toSpec(index: number): WaveSpec {
    return {
      name: this.w.name ?? `wave-${index + 1}`,
      clusters: this.w.clusters,
      gates: this.w.gates,
      ...(this.w.maxParallel !== undefined ? { maxParallel: this.w.maxParallel } : {}),
    };
  }
}

export interface FleetProps {
  /** The waves, in order; at least one. */
  readonly waves: Wave[];
  /** The FleetPlan object's name (default: the construct's id). */
  readonly name?: string;
}

/** One per app: the waves its commits are promoted through. */
export class Fleet extends Construct implements IDeclared {
  /** The props of `new Fleet(scope, id, Fleet.waves(a, b, c))`. */
  static waves(...waves: Wave[]): FleetProps {
    return { waves };
  }

  /** @internal */
  public readonly _source = SourceLocation.capture();
  public readonly apiObject: ApiObject;
  private readonly waveList: Wave[];

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    this.waveList = [...props.waves];
    this.apiObject = new ApiObject(this, 'Resource', {
      apiVersion: FLEET_PLAN_API_VERSION, kind: FLEET_PLAN_KIND,
      metadata: { name: props.name ?? id.toLowerCase() },
      spec: Lazy.any({ produce: () => this._toSpec() }),
    });
    this.node.addValidation({
      validate: () => {
        const others = this.node.root.node.findAll().filter((c) => c instanceof Fleet && c !== this);
        // The plan itself is checked with the rendered object (dsl/rules.ts), with its JSON path.
        return others.length ? [`an app has one Fleet; this one and ${others.map((o) => o.node.path).join(', ')}`] : [];
      },
    });
  }

  /** The serialized plan. @internal */
  public _toSpec(): FleetPlanSpec {
    return { version: 1, waves: this.waveList.map((w, i) => w._toSpec(i)) };
  }
}
