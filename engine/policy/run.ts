/**
 * Evaluates policies over a rendered set: pure, no I/O. A policy that throws is itself an error
 * (fail closed): a broken policy must not let a commit through unchecked.
 */
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { keyOf, objectId } from '../cluster/types.js';
import { BUILTIN_POLICY_NAMES, type BuiltinPolicyConfig, builtinPolicies } from './builtin.js';
import { isKind, isPolicy, type KindName, type Policy, type PolicyContext, type PolicyTarget } from './api.js';

/** What a `policies/*.ts` file may export by default: a policy, a list, or a set with the built-in configuration. */
export interface PolicySet {
  readonly __kgitopsPolicySet: 1;
  readonly builtin?: BuiltinPolicyConfig;
  readonly policies: readonly Policy[];
}

export function policySet(options: { builtin?: BuiltinPolicyConfig; policies?: readonly Policy[] }): PolicySet {
  for (const p of options.policies ?? []) {
    if (!isPolicy(p)) throw new Error('policySet: every entry of `policies` must come from definePolicy(...)');
  }
  return { __kgitopsPolicySet: 1, ...(options.builtin ? { builtin: options.builtin } : {}), policies: [...(options.policies ?? [])] };
}

export function isPolicySet(x: unknown): x is PolicySet {
  return typeof x === 'object' && x !== null && (x as PolicySet).__kgitopsPolicySet === 1;
}

export interface EvaluateOptions {
  /** The previous version of the set (the diff's base, the applied commit). */
  readonly previous?: readonly PolicyTarget[];
}

export function evaluatePolicies(policies: readonly Policy[], targets: readonly PolicyTarget[], options: EvaluateOptions = {}): Diagnostic[] {
  const out: Diagnostic[] = [];
  const previous = new Map((options.previous ?? []).map((t) => [objectId(keyOf(t.manifest)), t]));
  const byKind = new Map<KindName, PolicyTarget[]>();
  const objectsOf = <K extends KindName>(kind: K) => {
    if (!byKind.has(kind)) byKind.set(kind, targets.filter((t) => isKind(t.manifest, kind)));
    return byKind.get(kind)! as PolicyTarget<any>[];
  };
  // What every policy's diagnostics say of a target, and its previous version: once per target, not per policy.
  const whereOf = targets.map((target) => ({
    object: { apiVersion: target.manifest.apiVersion, kind: target.manifest.kind, name: target.manifest.metadata?.name, namespace: target.manifest.metadata?.namespace },
    constructPath: target.constructPath,
    ...(target.source ? { source: target.source } : {}),
  }));
  const previousOf = new Map<number, PolicyTarget | undefined>();
  const previousAt = (i: number) => {
    if (!previous.size) return undefined;
    if (!previousOf.has(i)) previousOf.set(i, previous.get(objectId(keyOf(targets[i].manifest))));
    return previousOf.get(i);
  };
  for (const policy of policies) {
    const kinds = policy.kinds;
    for (const [i, target] of targets.entries()) {
      if (kinds && !kinds.some((k) => isKind(target.manifest, k))) continue;
      const where = whereOf[i];
      const prev = previousAt(i);
      const context: PolicyContext = {
        all: targets,
        ...(prev ? { previous: prev } : {}),
        objectsOf,
        report(message, opts = {}) {
          out.push({
            severity: opts.severity ?? policy.severity, rule: `policy/${policy.name}`, message, ...where,
            ...(opts.path ? { path: opts.path } : {}), ...(opts.hint ? { hint: opts.hint } : {}),
          });
        },
      };
      try {
        policy.check(target, context);
      } catch (e) {
        out.push({
          severity: 'error', rule: `policy/${policy.name}`, ...where,
          message: `the policy threw: ${(e as Error)?.message ?? String(e)}`,
          hint: 'fix the policy; until then the commit is not applied (a policy that cannot run checks nothing)',
        });
      }
    }
  }
  return out;
}

/** A policy as configured, and where it comes from: what `kgitops policies` lists. */
export interface PolicyInfo {
  readonly name: string;
  readonly severity: 'error' | 'warning';
  readonly description: string;
  /** The kinds it checks; absent: every object. */
  readonly kinds?: readonly string[];
  /** `built-in`, or the policy file that defines it. */
  readonly from: string;
}

export const BUILTIN_ORIGIN = 'built-in';

export function describePolicies(policies: readonly Policy[], from: (name: string) => string = () => BUILTIN_ORIGIN): PolicyInfo[] {
  return policies.map((p) => ({ name: p.name, severity: p.severity, description: p.description, ...(p.kinds ? { kinds: [...p.kinds] } : {}), from: from(p.name) }));
}

/** Built-in rules that are switched off (or, like sidecar-registries, need configuration first). */
export function builtinsOff(catalog: readonly PolicyInfo[]): string[] {
  const on = new Set(catalog.filter((p) => p.from === BUILTIN_ORIGIN).map((p) => p.name));
  return Object.values(BUILTIN_POLICY_NAMES).filter((n) => !on.has(n));
}

/** Collects what policy files exported into one list; the built-in configuration may come from one file only. */
export function assemble(exports: { file: string; value: unknown }[]): { policies: Policy[]; problems: string[]; catalog: PolicyInfo[] } {
  const problems: string[] = [];
  let builtin: { file: string; config: BuiltinPolicyConfig } | undefined;
  const custom: { file: string; policy: Policy }[] = [];
  for (const { file, value } of exports) {
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (isPolicy(item)) custom.push({ file, policy: item });
      else if (isPolicySet(item)) {
        if (item.builtin) {
          if (builtin) problems.push(`${file}: the built-in policies are configured in ${builtin.file} already; configure them in one file`);
          else builtin = { file, config: item.builtin };
        }
        for (const p of item.policies) custom.push({ file, policy: p });
      } else if (item !== undefined) {
        problems.push(`${file}: the default export is not a policy: export definePolicy(...), a list of them, or policySet({...})`);
      }
    }
  }
  let policies: Policy[] = [];
  try {
    policies = builtinPolicies(builtin?.config);
  } catch (e) {
    problems.push(`${builtin?.file ?? 'built-in policies'}: ${(e as Error).message}`);
  }
  const names = new Map(policies.map((p) => [p.name, BUILTIN_ORIGIN]));
  for (const { file, policy } of custom) {
    const first = names.get(policy.name);
    if (first) problems.push(`${file}: a policy named "${policy.name}" is already defined by ${first === BUILTIN_ORIGIN ? 'the built-in pack' : first}; names must be unique`);
    else { names.set(policy.name, file); policies.push(policy); }
  }
  return { policies, problems, catalog: describePolicies(policies, (n) => names.get(n)!) };
}

