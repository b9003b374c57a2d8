/**
 * How diagnostics are printed for people: errors one by one (capped), warnings grouped by rule
 * once a rule fires on many objects, each group with its count, first objects and hint once.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../../dsl/diagnostics.js';
import { formatDiagnostic } from '../../../dsl/diagnostics.js';
import { formatDiagnostics, printDiagnostics } from '../../../engine/cli/output.js';

const HINT = 'add a PodUnavailableBudget (policy.kruise.io, targetRef to this workload) or a PodDisruptionBudget selecting its pod labels';

function budgetWarning(i: number): Diagnostic {
  return {
    severity: 'warning', rule: 'policy/disruption-budget', path: 'spec.replicas',
    message: `has ${4 + (i % 5)} replicas and no PodUnavailableBudget or PodDisruptionBudget covers its pods`, hint: HINT,
    object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: `svc-${i}`, namespace: 'team-0' },
    constructPath: `team-0/svc-${i}`, source: `main.ts:${10 + i}:3`,
  };
}

function schemaError(i: number): Diagnostic {
  return {
    severity: 'error', rule: 'schema/unknown-field', path: `spec.replica${i}`, message: `unknown field "replica${i}"`,
    hint: 'check the spelling against the CRD or Kubernetes API; the apiserver would drop this field silently',
    object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: `bad-${i}`, namespace: 'team-0' },
    constructPath: `team-0/bad-${i}`, source: `main.ts:${100 + i}:1`,
  };
}

describe('formatDiagnostics', () => {
  it('summarizes a rule that warns about thousands of objects in one block', () => {
    const warnings = Array.from({ length: 8000 }, (_, i) => budgetWarning(i));
    const text = formatDiagnostics(warnings);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('warning [policy/disruption-budget] on 8000 objects; the first 3:');
    // The first three objects, each with its location and its own message.
    expect(lines.slice(1, 7)).toEqual([
      '  main.ts:10:3, construct team-0/svc-0, CloneSet team-0/svc-0 (apps.kruise.io/v1alpha1)',
      '    spec.replicas: has 4 replicas and no PodUnavailableBudget or PodDisruptionBudget covers its pods',
      '  main.ts:11:3, construct team-0/svc-1, CloneSet team-0/svc-1 (apps.kruise.io/v1alpha1)',
      '    spec.replicas: has 5 replicas and no PodUnavailableBudget or PodDisruptionBudget covers its pods',
      '  main.ts:12:3, construct team-0/svc-2, CloneSet team-0/svc-2 (apps.kruise.io/v1alpha1)',
      '    spec.replicas: has 6 replicas and no PodUnavailableBudget or PodDisruptionBudget covers its pods',
    ]);
    expect(lines[7]).toBe('  ... and 7997 more; -o json lists every one');
    // The hint once, not 8,000 times.
    expect(text.split(HINT)).toHaveLength(2);
    expect(lines[8]).toBe(`  hint: ${HINT}`);
    expect(lines).toHaveLength(9);
    expect(text).not.toContain('svc-3,');
  });

  it('lists a rule with few warnings in full, as before', () => {
    const few = [budgetWarning(0), budgetWarning(1), budgetWarning(2)];
    expect(formatDiagnostics(few)).toBe(`${few.map(formatDiagnostic).join('\n')}\n`);
  });

  it('lists errors one by one, before the warnings, whatever their order', () => {
    const ds = [budgetWarning(0), schemaError(0), ...Array.from({ length: 10 }, (_, i) => budgetWarning(i + 1)), schemaError(1)];
    const text = formatDiagnostics(ds);
    expect(text.startsWith(`${formatDiagnostic(schemaError(0))}\n${formatDiagnostic(schemaError(1))}\n`)).toBe(true);
    expect(text).toContain('warning [policy/disruption-budget] on 11 objects; the first 3:');
    expect(text.indexOf('warning [policy/disruption-budget]')).toBeGreaterThan(text.indexOf('spec.replica1: unknown field'));
  });

  it('caps the errors and counts the rest by rule', () => {
    const errors = [
      ...Array.from({ length: 60 }, (_, i) => schemaError(i)),
      ...Array.from({ length: 5 }, (_, i): Diagnostic => ({ severity: 'error', rule: 'synth/duplicate-object', message: `dup ${i}` })),
    ];
    const text = formatDiagnostics(errors, { maxErrors: 50 });
    for (let i = 0; i < 50; i++) expect(text).toContain(`spec.replica${i}: unknown field "replica${i}"`);
    expect(text).not.toContain('spec.replica50:');
    expect(text).not.toContain('dup 0');
    expect(text.trimEnd().split('\n').at(-1)).toBe('error: 15 more error(s) not shown (10 schema/unknown-field, 5 synth/duplicate-object); -o json lists every one');
  });

  it('groups every rule on its own, in order of first appearance', () => {
    const other = (i: number): Diagnostic => ({ ...budgetWarning(i), rule: 'policy/images-pinned', message: `tag ${i}`, hint: undefined });
    const ds = [other(0), ...Array.from({ length: 5 }, (_, i) => budgetWarning(i)), other(1), other(2), other(3), other(4)];
    const text = formatDiagnostics(ds, { examples: 2 });
    const heads = text.split('\n').filter((l) => l.startsWith('warning'));
    expect(heads).toEqual([
      'warning [policy/images-pinned] on 5 objects; the first 2:',
      'warning [policy/disruption-budget] on 5 objects; the first 2:',
    ]);
    expect(text).toContain('  ... and 3 more; -o json lists every one');
  });

  it('says each distinct hint of a group once', () => {
    const ds = Array.from({ length: 6 }, (_, i) => ({ ...budgetWarning(i), hint: i % 2 ? 'hint B' : 'hint A' }));
    const lines = formatDiagnostics(ds).split('\n');
    expect(lines.filter((l) => l.startsWith('  hint: '))).toEqual(['  hint: hint A', '  hint: hint B']);
  });

  it('prints nothing for no diagnostics, and everything in one write', () => {
    expect(formatDiagnostics([])).toBe('');
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    printDiagnostics(Array.from({ length: 1000 }, (_, i) => budgetWarning(i)), stream);
    printDiagnostics([], stream);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toContain('on 1000 objects');
  });
});
