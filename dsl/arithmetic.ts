/**
 * Kruise's integer-or-percent arithmetic, in one place: webhook rules, the release engine,
 * `kgitops preview` and the simulated cluster all use these functions, so they cannot disagree
 * with each other. Each function names the Kruise code it mirrors (v1.9.0).
 */

/** A count of pods, or a percentage of some total written as `"25%"`. */
export type IntOrPercent = number | `${number}%`;

export type ParsedIntOrPercent =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'percent'; readonly value: number };

/**
 * Parses an int-or-string the way Kubernetes' intstr does: an integer, or a string of digits
 * followed by `%`. Returns undefined for anything else ("abc", "1.5%", "-3%", "10").
 */
export function parseIntOrPercent(v: unknown): ParsedIntOrPercent | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: 'int', value: v } : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)%$/.exec(v);
  return m ? { kind: 'percent', value: Number(m[1]) } : undefined;
}

/**
 * intstr.GetScaledValueFromIntOrPercent: an integer as is; a percentage of `total`,
 * rounded up or down.
 */
export function scaledValue(v: IntOrPercent | string | undefined, total: number, roundUp: boolean, fallback = 0): number {
  if (v === undefined) return fallback;
  const p = parseIntOrPercent(v);
  if (!p) throw new Error(`invalid int-or-percent value ${JSON.stringify(v)}`);
  if (p.kind === 'int') return p.value;
  const exact = (p.value * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * Pods a CloneSet or SidecarSet keeps at the old revision for a partition (Kruise
 * util.CalculatePartitionReplicas): percentages round up and clamp to [0, replicas], except that
 * with more than one replica a percentage below 100% that would keep every pod keeps
 * replicas-1, so that it still updates one pod. A single replica is kept by any percentage
 * above 0% (ceil rounds it up to 1 and the exception needs replicas > 1). Integers clamp to
 * replicas.
 */
export function cloneSetPartitionKeep(partition: IntOrPercent | string | undefined, replicas: number): number {
  if (partition === undefined) return 0;
  const p = parseIntOrPercent(partition);
  if (!p) throw new Error(`invalid partition ${JSON.stringify(partition)}`);
  if (p.kind === 'int') return Math.max(0, Math.min(p.value, replicas));
  let keep = Math.min(Math.max(Math.ceil((p.value * replicas) / 100), 0), replicas);
  if (p.value < 100 && keep === replicas && replicas > 1) keep = replicas - 1;
  return keep;
}

/** Pods a DaemonSet keeps at the old revision: a percentage of desiredNumberScheduled, rounded down. */
export function daemonSetPartitionKeep(partition: IntOrPercent | string | undefined, desired: number): number {
  if (partition === undefined) return 0;
  return Math.max(0, Math.min(scaledValue(partition, desired, false), desired));
}

/** Pods an Advanced StatefulSet keeps at the old revision: an integer partition, clamped. */
export function statefulSetPartitionKeep(partition: number | undefined, replicas: number): number {
  return Math.max(0, Math.min(partition ?? 0, replicas));
}

/**
 * The partition that keeps every pod at the old revision, per kind: what the release engine
 * applies with a new template so that no pod updates before the first step.
 */
export function holdAllPartition(kind: 'CloneSet' | 'SidecarSet' | 'DaemonSet' | 'StatefulSet', replicas: number): IntOrPercent {
  return kind === 'StatefulSet' ? replicas : '100%';
}

/** Kruise's ParseSubsetReplicas: a percentage of the UD's replicas, rounded half up. */
export function subsetReplicas(v: unknown, total: number): number | undefined {
  if (typeof v === 'number') return Math.max(0, Math.trunc(v));
  const m = typeof v === 'string' ? /^(\d+)%$/.exec(v) : null;
  return m ? Math.floor((total * Number(m[1])) / 100 + 0.5) : undefined;
}

/**
 * Replicas per UnitedDeployment subset (Kruise's allocation): specified subsets get their count
 * (percentages of the total rounded half up), the rest is spread evenly over the others, the
 * remainder going to the subsets with the fewest pods now. An error message when the specified
 * ones do not fit.
 */
export function unitedDeploymentAllocation(total: number, subsets: { name: string; replicas?: unknown }[], current: Map<string, number>): Map<string, number> | string {
  const specified = new Map<string, number>();
  for (const s of subsets) {
    const n = s.replicas === undefined ? undefined : subsetReplicas(s.replicas, total);
    if (n !== undefined) specified.set(s.name, n);
  }
  const sum = [...specified.values()].reduce((a, b) => a + b, 0);
  if (sum > total) return `specified subsets' replica (${sum}) is greater than UnitedDeployment replica (${total})`;
  if (sum < total && specified.size === subsets.length) return `specified subsets' replica (${sum}) is less than UnitedDeployment replica (${total})`;
  const order = [...subsets].sort((a, b) => (current.get(a.name) ?? 0) - (current.get(b.name) ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out = new Map<string, number>();
  for (const s of order) if (specified.has(s.name)) out.set(s.name, specified.get(s.name)!);
  const left = order.filter((s) => !specified.has(s.name));
  if (left.length) {
    const rest = total - sum;
    const avg = Math.floor(rest / left.length);
    let remainder = rest % left.length;
    for (let i = left.length - 1; i >= 0; i--) {
      out.set(left[i]!.name, avg + (remainder > 0 ? 1 : 0));
      if (remainder > 0) remainder--;
    }
  }
  return out;
}
