/**
 * A fleet's plan as the controller reads it: the spec of the FleetPlan object a `Fleet`
 * (dsl/fleet.ts) renders, and its validation. Plain data, no constructs: the rules
 * (dsl/rules.ts), the validator and the controller load it without cdk8s.
 */
import { type GateSpec, type PlanProblem, validateGate } from './release.js';

export const FLEET_PLAN_API_VERSION = 'kgitops.io/v1alpha1';
export const FLEET_PLAN_KIND = 'FleetPlan';

/** Which clusters a wave takes: by name, or by labels (each must match). */
export interface ClusterSelectorSpec {
  readonly names?: string[];
  readonly matchLabels?: Record<string, string>;
}

export interface WaveSpec {
  /** `wave-1`, `wave-2`, ... unless named. */
  readonly name: string;
  readonly clusters: ClusterSelectorSpec;
  /** Gates between the wave before and this one; on the first wave, between the commit and it (no bake there). */
  readonly gates: GateSpec[];
  /** At most this many of the wave's clusters get the commit at a time (default: all of them). */
  readonly maxParallel?: number;
}

/** The serialized plan: the spec of the FleetPlan object, what the controller reads. */
export interface FleetPlanSpec {
  readonly version: 1;
  readonly waves: WaveSpec[];
}

/** Gates that mean something between waves (podsReady is part of every wave being done). */
const WAVE_GATES = new Set(['bake', 'metric', 'http', 'approval', 'window']);
const LABEL = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Checks a serialized fleet plan (the DSL's, or a FleetPlan written by hand): every problem. */
export function validateFleetPlan(plan: unknown): PlanProblem[] {
  const p = plan as FleetPlanSpec;
  if (!p || typeof p !== 'object' || p.version !== 1 || !Array.isArray(p.waves)) {
    return [{ path: '', message: 'not a fleet plan (expected { version: 1, waves: [...] })' }];
  }
  const out: PlanProblem[] = [];
  if (p.waves.length === 0) out.push({ path: 'waves', message: 'a fleet needs at least one wave' });
  const names = new Set<string>();
  p.waves.forEach((w, i) => {
    const at = `waves[${i}]`;
    if (typeof w?.name !== 'string' || !NAME.test(w.name)) out.push({ path: `${at}.name`, message: `${JSON.stringify(w?.name)} is not a name (lower-case letters, digits and dashes)` });
    else if (names.has(w.name)) out.push({ path: `${at}.name`, message: `two waves are called ${w.name}` });
    else names.add(w.name);
    const c = w?.clusters ?? {};
    const hasNames = Array.isArray(c.names) && c.names.length > 0;
    const labels = Object.entries(c.matchLabels ?? {});
    if (hasNames === labels.length > 0) out.push({ path: `${at}.clusters`, message: hasNames ? 'choose clusters by names or by labels, not both' : 'a wave needs clusters: Wave.named(...) or Wave.clusters({ label: value })' });
    for (const n of c.names ?? []) if (!NAME.test(n)) out.push({ path: `${at}.clusters.names`, message: `${JSON.stringify(n)} is not a cluster name` });
    for (const [k, v] of labels) {
      if (!LABEL.test(k)) out.push({ path: `${at}.clusters.matchLabels`, message: `${JSON.stringify(k)} is not a label key` });
      if (typeof v !== 'string' || !VALUE.test(v)) out.push({ path: `${at}.clusters.matchLabels.${k}`, message: `${JSON.stringify(v)} is not a label value` });
    }
    if (w?.maxParallel !== undefined && !(Number.isInteger(w.maxParallel) && w.maxParallel > 0)) {
      out.push({ path: `${at}.maxParallel`, message: `maxParallel must be a positive integer, got ${JSON.stringify(w.maxParallel)}` });
    }
    (w?.gates ?? []).forEach((g, j) => {
      const gat = `${at}.gates[${j}]`;
      if (!WAVE_GATES.has(g?.type)) out.push({ path: gat, message: `${JSON.stringify(g?.type)} is not a gate between waves (use bake, metric, http, approval or window; a wave is done once its clusters are synced, healthy and released)` });
      else out.push(...validateGate(g, gat));
    });
    (i === 0 ? w?.gates ?? [] : []).forEach((g, j) => {
      if (g?.type === 'bake') out.push({ path: `${at}.gates[${j}]`, message: 'the first wave starts with the commit: there is nothing to bake before it (put the bake on the wave after it)' });
    });
  });
  return out;
}

/** Whether a rendered object is a fleet's plan: read by the controller, never applied to a cluster. */
export function isFleetPlan(manifest: { apiVersion?: unknown; kind?: unknown } | undefined): boolean {
  return manifest?.apiVersion === FLEET_PLAN_API_VERSION && manifest?.kind === FLEET_PLAN_KIND;
}
