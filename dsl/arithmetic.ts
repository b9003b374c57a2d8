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
 * a percentage below 100% that would keep every pod keeps replicas-1, so that it still
 * updates one pod. Integers clamp to replicas.
 */
export function cloneSetPartitionKeep(partition: IntOrPercent | string | undefined, replicas: number): number {
  if (partition === undefined) return 0;
  const p = parseIntOrPercent(partition);
  if (!p) throw new Error(`invalid partition ${JSON.stringify(partition)}`);
  if (p.kind === 'int') return Math.max(0, Math.min(p.value, replicas));
  let keep = Math.min(Math.max(Math.ceil((p.value * replicas) / 100), 0), replicas);
  if (p.value < 100 && keep === replicas && replicas > 0) keep = replicas - 1;
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
