/** Kruise's partition arithmetic (API-NOTES §3), used by rules, preview and the release engine. */
import { describe, expect, it } from 'vitest';
import { cloneSetPartitionKeep, daemonSetPartitionKeep, parseIntOrPercent, scaledValue, statefulSetPartitionKeep } from '../../../dsl/arithmetic.js';

describe('Kruise partition arithmetic', () => {
  it.each([
    [10, '25%', 3], [3, '50%', 2], [3, '99%', 2], [10, '100%', 10], [10, '0%', 0], [1, '50%', 1], [1, '95%', 1], [1, '0%', 0], [2, '95%', 1], [10, 12, 10], [10, 4, 4], [0, '50%', 0],
  ] as const)('a CloneSet of %i with partition %j keeps %i pods old', (replicas, partition, keep) => {
    expect(cloneSetPartitionKeep(partition, replicas)).toBe(keep);
  });

  it.each([[10, '25%', 2], [7, '50%', 3], [4, 5, 4]] as const)('a DaemonSet on %i nodes with partition %j keeps %i pods old (rounded down)', (nodes, partition, keep) => {
    expect(daemonSetPartitionKeep(partition, nodes)).toBe(keep);
  });

  it('clamps an Advanced StatefulSet partition to replicas', () => {
    expect(statefulSetPartitionKeep(7, 5)).toBe(5);
    expect(statefulSetPartitionKeep(undefined, 5)).toBe(0);
  });

  it('parses ints and percentages like intstr, and refuses anything else', () => {
    expect(parseIntOrPercent(3)).toEqual({ kind: 'int', value: 3 });
    expect(parseIntOrPercent('20%')).toEqual({ kind: 'percent', value: 20 });
    for (const bad of ['20', 'abc', '1.5%', '-3%', 1.5]) expect(parseIntOrPercent(bad)).toBeUndefined();
    expect(scaledValue('20%', 7, true)).toBe(2);
    expect(scaledValue('20%', 7, false)).toBe(1);
    expect(() => scaledValue('x' as never, 7, true)).toThrow(/invalid int-or-percent/);
  });
});
