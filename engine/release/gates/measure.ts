/**
 * Counting measurements and judging a measured gate, per the contract in types.ts (Argo
 * Rollouts' AnalysisRun semantics):
 * - Successful, Failed and Inconclusive measurements count toward `count` and reset the run of
 *   consecutive errors; an Error does neither (it is retried, see nextMeasurementAt).
 * - The gate fails as soon as failed > failureLimit (so with the default 0, on the first failed
 *   measurement) or consecutiveErrors > consecutiveErrorLimit; it is Inconclusive once
 *   inconclusive > inconclusiveLimit; it passes once `count` measurements were taken within
 *   those limits.
 * - Where two limits are exceeded at once (only possible in a state built by hand: each
 *   measurement moves one counter), Failed wins over Inconclusive. Argo lets Inconclusive win;
 *   for a release the failure is the more important thing to report.
 * Everything here is pure: the state is plain JSON kept in the release annotation.
 */
import type { MeasurementSpec } from '../../../dsl/release.js';
import type { GateVerdict, Measurement, MeasurementState } from './types.js';

/** Measurements kept in the state (counters keep counting past it). */
export const KEPT_MEASUREMENTS = 10;

/** Argo retries an Error sooner than the interval: after min(interval, 10 s). */
export const ERROR_RETRY_MS = 10_000;

export function emptyMeasurementState(): MeasurementState {
  return { measurements: [], successful: 0, failed: 0, inconclusive: 0, errors: 0, consecutiveErrors: 0 };
}

/** The state after one more measurement (the input is not modified). */
export function recordMeasurement(state: MeasurementState | undefined, m: Measurement): MeasurementState {
  const s = state ?? emptyMeasurementState();
  const measurements = [...s.measurements, m].slice(-KEPT_MEASUREMENTS);
  switch (m.phase) {
    case 'Successful': return { ...s, measurements, successful: s.successful + 1, consecutiveErrors: 0 };
    case 'Failed': return { ...s, measurements, failed: s.failed + 1, consecutiveErrors: 0 };
    case 'Inconclusive': return { ...s, measurements, inconclusive: s.inconclusive + 1, consecutiveErrors: 0 };
    case 'Error': return { ...s, measurements, errors: s.errors + 1, consecutiveErrors: s.consecutiveErrors + 1 };
  }
}

/** Measurements that count toward `count` (errors do not). */
export function measurementsTaken(state: MeasurementState): number {
  return state.successful + state.failed + state.inconclusive;
}

function last(state: MeasurementState, phase?: Measurement['phase']): Measurement | undefined {
  for (let i = state.measurements.length - 1; i >= 0; i--) {
    if (!phase || state.measurements[i].phase === phase) return state.measurements[i];
  }
  return undefined;
}

function tally(state: MeasurementState): string {
  const parts = [`${state.successful} successful`, `${state.failed} failed`, `${state.inconclusive} inconclusive`];
  if (state.errors) parts.push(`${state.errors} error${state.errors === 1 ? '' : 's'}`);
  return parts.join(', ');
}

// A spec from an annotation may be older or hand-written: fall back to the DSL's defaults.
function limits(spec: MeasurementSpec) {
  const int = (v: unknown, d: number, min: number) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(min, Math.floor(v)) : d);
  return {
    count: int(spec.count, 3, 1),
    failureLimit: int(spec.failureLimit, 0, 0),
    consecutiveErrorLimit: int(spec.consecutiveErrorLimit, 4, 0),
    inconclusiveLimit: int(spec.inconclusiveLimit, 0, 0),
    intervalMs: int(spec.intervalSeconds, 60, 0) * 1000,
  };
}

/** The gate's verdict from its measurements so far, with the reason in words. */
export function verdict(spec: MeasurementSpec, state: MeasurementState | undefined): { verdict: GateVerdict; message: string } {
  const s = state ?? emptyMeasurementState();
  const l = limits(spec);
  const why = (m: Measurement | undefined) => (m ? `: ${m.message}` : '');
  if (s.failed > l.failureLimit) {
    return { verdict: 'Failed', message: `${s.failed} failed measurement${s.failed === 1 ? '' : 's'} (failureLimit ${l.failureLimit})${why(last(s, 'Failed'))}` };
  }
  if (s.consecutiveErrors > l.consecutiveErrorLimit) {
    return { verdict: 'Failed', message: `${s.consecutiveErrors} errors in a row (consecutiveErrorLimit ${l.consecutiveErrorLimit})${why(last(s, 'Error'))}` };
  }
  if (s.inconclusive > l.inconclusiveLimit) {
    return { verdict: 'Inconclusive', message: `${s.inconclusive} inconclusive measurement${s.inconclusive === 1 ? '' : 's'} (inconclusiveLimit ${l.inconclusiveLimit})${why(last(s, 'Inconclusive'))}; approve or abort` };
  }
  const taken = measurementsTaken(s);
  if (taken >= l.count) {
    return { verdict: 'Passed', message: `${taken} of ${l.count} measurements taken: ${tally(s)}${why(last(s))}` };
  }
  if (s.measurements.length === 0) return { verdict: 'Pending', message: `no measurement yet (0 of ${l.count})` };
  return { verdict: 'Pending', message: `${taken} of ${l.count} measurements taken: ${tally(s)}${why(last(s))}` };
}

/**
 * When the next measurement is due (epoch ms): `intervalSeconds` after the last one, or after
 * min(interval, 10 s) when the last one was an Error (Argo's retry); 0 (due now) before the
 * first; undefined once the verdict is final.
 */
export function nextMeasurementAt(spec: MeasurementSpec, state: MeasurementState | undefined): number | undefined {
  const s = state ?? emptyMeasurementState();
  if (verdict(spec, s).verdict !== 'Pending') return undefined;
  const m = last(s);
  if (!m) return 0;
  const at = Date.parse(m.at);
  if (Number.isNaN(at)) return 0;
  const { intervalMs } = limits(spec);
  return at + (m.phase === 'Error' ? Math.min(intervalMs, ERROR_RETRY_MS) : intervalMs);
}
