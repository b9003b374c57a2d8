/** Counting measurements and the gate verdict: Argo Rollouts' AnalysisRun semantics. */
import { describe, expect, it } from 'vitest';
import type { MeasurementSpec } from '../../../../dsl/release.js';
import {
  emptyMeasurementState,
  ERROR_RETRY_MS,
  KEPT_MEASUREMENTS,
  measurementsTaken,
  nextMeasurementAt,
  recordMeasurement,
  verdict,
} from '../../../../engine/release/gates/measure.js';
import type { Measurement, MeasurementPhase, MeasurementState } from '../../../../engine/release/gates/types.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const spec = (o: Partial<MeasurementSpec> = {}): MeasurementSpec => ({
  intervalSeconds: 60, count: 3, failureLimit: 0, consecutiveErrorLimit: 4, inconclusiveLimit: 0, ...o,
});
const letter: Record<string, MeasurementPhase> = { S: 'Successful', F: 'Failed', I: 'Inconclusive', E: 'Error' };

/** Measurements one interval apart from a string like "SSEF". */
function run(phases: string, intervalSeconds = 60): MeasurementState {
  let s: MeasurementState | undefined;
  [...phases].forEach((p, i) => {
    s = recordMeasurement(s, { at: new Date(T0 + i * intervalSeconds * 1000).toISOString(), phase: letter[p], message: `#${i + 1} ${letter[p]}`, value: i });
  });
  return s ?? emptyMeasurementState();
}

/** The verdict after each measurement of a run, as letters: P(ending), A (passed), F, I. */
function verdicts(sp: MeasurementSpec, phases: string): string {
  let out = '';
  for (let i = 1; i <= phases.length; i++) out += { Pending: 'P', Passed: 'A', Failed: 'F', Inconclusive: 'I' }[verdict(sp, run(phases.slice(0, i))).verdict];
  return out;
}

describe('recordMeasurement', () => {
  it('starts from nothing and counts each phase', () => {
    const s = run('SFIE');
    expect({ ...s, measurements: s.measurements.length }).toEqual({ measurements: 4, successful: 1, failed: 1, inconclusive: 1, errors: 1, consecutiveErrors: 1 });
  });

  it('counts errors in a row and resets the run on any other phase', () => {
    expect(run('EEE').consecutiveErrors).toBe(3);
    expect(run('EEES').consecutiveErrors).toBe(0);
    expect(run('EEEF').consecutiveErrors).toBe(0);
    expect(run('EEEI').consecutiveErrors).toBe(0);
    expect(run('EEESEE')).toMatchObject({ errors: 5, consecutiveErrors: 2 });
  });

  it('keeps the last 10 measurements, oldest first, and counts past them', () => {
    const s = run('S'.repeat(12) + 'F');
    expect(s.measurements).toHaveLength(KEPT_MEASUREMENTS);
    expect(s.measurements[0].message).toBe('#4 Successful');
    expect(s.measurements[9].message).toBe('#13 Failed');
    expect(s).toMatchObject({ successful: 12, failed: 1 });
  });

  it('does not modify the state it is given (it lives in an annotation)', () => {
    const before = run('SS');
    const copy = JSON.parse(JSON.stringify(before));
    recordMeasurement(before, { at: new Date(T0).toISOString(), phase: 'Error', message: 'x' });
    expect(before).toEqual(copy);
  });

  it('errors do not count toward count', () => {
    expect(measurementsTaken(run('SEEFEI'))).toBe(3);
  });

  it('round-trips through JSON', () => {
    const s = run('SEI');
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});

describe('verdict', () => {
  it('is Pending before the first measurement', () => {
    expect(verdict(spec(), undefined)).toEqual({ verdict: 'Pending', message: 'no measurement yet (0 of 3)' });
    expect(verdict(spec(), emptyMeasurementState()).verdict).toBe('Pending');
  });

  it('passes once count measurements were taken within the limits', () => {
    expect(verdicts(spec({ count: 3 }), 'SSS')).toBe('PPA');
    expect(verdict(spec({ count: 3 }), run('SSS'))).toEqual({ verdict: 'Passed', message: '3 of 3 measurements taken: 3 successful, 0 failed, 0 inconclusive: #3 Successful' });
  });

  it('count 1 passes on the first successful measurement', () => {
    expect(verdicts(spec({ count: 1 }), 'S')).toBe('A');
  });

  it('failureLimit 0 (the default) fails on the first failed measurement', () => {
    expect(verdicts(spec(), 'SF')).toBe('PF');
    expect(verdict(spec(), run('SF'))).toEqual({ verdict: 'Failed', message: '1 failed measurement (failureLimit 0): #2 Failed' });
  });

  it('a failed measurement fails even if it is the count-th one', () => {
    expect(verdicts(spec({ count: 3 }), 'SSF')).toBe('PPF');
  });

  it('failureLimit N tolerates N failed measurements and fails on the next', () => {
    expect(verdicts(spec({ count: 5, failureLimit: 2 }), 'FSFSS')).toBe('PPPPA');
    expect(verdicts(spec({ count: 5, failureLimit: 2 }), 'FFF')).toBe('PPF');
    expect(verdict(spec({ count: 5, failureLimit: 2 }), run('FSFSF')).message).toBe('3 failed measurements (failureLimit 2): #5 Failed');
  });

  it('failed measurements count toward count: within the limit the gate passes', () => {
    expect(verdicts(spec({ count: 3, failureLimit: 1 }), 'FSS')).toBe('PPA');
  });

  it('fails when consecutive errors exceed consecutiveErrorLimit (default 4: the fifth in a row)', () => {
    expect(verdicts(spec(), 'EEEEE')).toBe('PPPPF');
    expect(verdict(spec(), run('EEEEE'))).toEqual({ verdict: 'Failed', message: '5 errors in a row (consecutiveErrorLimit 4): #5 Error' });
  });

  it('consecutive errors reset on success, so scattered errors never fail the gate', () => {
    expect(verdicts(spec({ count: 3 }), 'EEEESEEEESEEEES')).toBe('PPPPPPPPPPPPPPA');
    expect(verdict(spec({ count: 3 }), run('EEEESEEEESEEEES'))).toMatchObject({ verdict: 'Passed', message: expect.stringContaining('3 successful, 0 failed, 0 inconclusive, 12 errors') });
  });

  it('consecutiveErrorLimit 0 fails on the first error', () => {
    expect(verdicts(spec({ consecutiveErrorLimit: 0 }), 'SE')).toBe('PF');
  });

  it('inconclusiveLimit 0 (the default) is Inconclusive on the first inconclusive measurement', () => {
    expect(verdicts(spec(), 'SI')).toBe('PI');
    expect(verdict(spec(), run('SI'))).toEqual({ verdict: 'Inconclusive', message: '1 inconclusive measurement (inconclusiveLimit 0): #2 Inconclusive; approve or abort' });
  });

  it('inconclusiveLimit N tolerates N, and inconclusive measurements count toward count', () => {
    expect(verdicts(spec({ count: 3, inconclusiveLimit: 1 }), 'ISS')).toBe('PPA');
    expect(verdicts(spec({ count: 4, inconclusiveLimit: 1 }), 'ISI')).toBe('PPI');
  });

  it('when two limits are exceeded at once, Failed wins over Inconclusive', () => {
    const both: MeasurementState = { ...run('FI'), failed: 1, inconclusive: 1 };
    expect(verdict(spec(), both).verdict).toBe('Failed');
  });

  it('the verdict is final: more measurements after it do not change Failed', () => {
    expect(verdicts(spec({ count: 2 }), 'FSS')).toBe('FFF');
  });

  it('reports progress while Pending', () => {
    expect(verdict(spec({ count: 5 }), run('SES'))).toEqual({
      verdict: 'Pending', message: '2 of 5 measurements taken: 2 successful, 0 failed, 0 inconclusive, 1 error: #3 Successful',
    });
  });

  it('falls back to the defaults for a spec missing fields (an older annotation)', () => {
    const partial = { intervalSeconds: 60 } as MeasurementSpec;
    expect(verdicts(partial, 'SSS')).toBe('PPA'); // count 3
    expect(verdicts(partial, 'F')).toBe('F'); // failureLimit 0
    expect(verdicts(partial, 'EEEEE')).toBe('PPPPF'); // consecutiveErrorLimit 4
  });
});

describe('nextMeasurementAt', () => {
  it('is due at once (0) before the first measurement', () => {
    expect(nextMeasurementAt(spec(), undefined)).toBe(0);
    expect(nextMeasurementAt(spec(), emptyMeasurementState())).toBe(0);
  });

  it('is one interval after the last measurement', () => {
    expect(nextMeasurementAt(spec({ intervalSeconds: 30 }), run('S', 30))).toBe(T0 + 30_000);
    expect(nextMeasurementAt(spec({ intervalSeconds: 30, count: 5, failureLimit: 2 }), run('SFS', 30))).toBe(T0 + 2 * 30_000 + 30_000);
  });

  it('retries an error after min(interval, 10 s), like Argo', () => {
    expect(nextMeasurementAt(spec({ intervalSeconds: 60 }), run('E'))).toBe(T0 + ERROR_RETRY_MS);
    expect(nextMeasurementAt(spec({ intervalSeconds: 5 }), run('E', 5))).toBe(T0 + 5_000);
  });

  it('is undefined once the verdict is final', () => {
    expect(nextMeasurementAt(spec(), run('F'))).toBeUndefined();
    expect(nextMeasurementAt(spec(), run('I'))).toBeUndefined();
    expect(nextMeasurementAt(spec({ count: 2 }), run('SS'))).toBeUndefined();
    expect(nextMeasurementAt(spec(), run('EEEEE'))).toBeUndefined();
  });

  it('drives a whole gate: measure whenever due until the verdict is final', () => {
    const sp = spec({ intervalSeconds: 10, count: 3 });
    const outcomes: MeasurementPhase[] = ['Error', 'Successful', 'Error', 'Successful', 'Successful'];
    let s: MeasurementState | undefined;
    let now = T0;
    const times: number[] = [];
    for (const phase of outcomes) {
      const due = nextMeasurementAt(sp, s);
      expect(due).toBeDefined();
      now = Math.max(now, due!);
      times.push(now - T0);
      const m: Measurement = { at: new Date(now).toISOString(), phase, message: phase };
      s = recordMeasurement(s, m);
    }
    expect(verdict(sp, s).verdict).toBe('Passed');
    expect(nextMeasurementAt(sp, s)).toBeUndefined();
    expect(times).toEqual([0, 10_000, 20_000, 30_000, 40_000]);
  });
});
