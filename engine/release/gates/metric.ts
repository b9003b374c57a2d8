/**
 * One measurement of a metric gate: a PromQL instant query (GET /api/v1/query) at the engine's
 * clock time, judged by the gate's conditions.
 *
 * What the conditions see:
 *   result   the value of the first sample (a number; a string for a string query), in the order
 *            Prometheus returns the samples (which sort(), sort_desc() and topk() control);
 *   results  every sample's value, in the same order.
 * So `result < 0.01` reads the usual single-series query (sum(...), a ratio), and a query that
 * returns several series is judged with results: `max(results) < 0.01`, `len(results) == 3`.
 *
 * Outcomes:
 *   no samples (empty vector)     Inconclusive "the query returned no data"
 *   a NaN among the values        Inconclusive, unless a condition tests isNaN(): Prometheus
 *                                 answers NaN for 0/0 (an error ratio without requests), and
 *                                 NaN compares false with everything, so it would silently fail
 *                                 a success condition or pass a failure condition
 *   +Inf / -Inf                   compared as numbers (+Inf < 0.01 is false)
 *   a range vector (matrix)       Error: a gate needs an instant value
 *   unreachable, timeout, HTTP error, `status: error`   Error, with Prometheus' own message
 *   a condition that cannot be evaluated (missing value, wrong type)   Error
 * Conditions as in Argo Rollouts: a true failureCondition fails the measurement; otherwise a
 * true successCondition passes it; with both set and neither true it is Inconclusive; with only
 * one set, the other is its negation; with neither set (a hand-written spec) it passes.
 * The measurement's value is JSON-safe for the state annotation: the number (or the list of
 * numbers for several samples), with NaN and infinities written as Prometheus writes them.
 */
import type { MetricGateSpec } from '../../../dsl/release.js';
import { type Condition, ConditionError, evaluateCondition, formatValue, parseCondition } from '../../../dsl/condition.js';
import { boundedGet, type MeasureOptions, RequestError, snippet } from './request.js';
import type { Measurement, MeasurementPhase } from './types.js';

export type { MeasureOptions } from './request.js';

/** Default timeout of a Prometheus query (the spec has none). */
export const METRIC_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** Names a metric condition can use. */
export const METRIC_IDENTIFIERS = ['result', 'results'] as const;

interface Sample {
  readonly labels: Record<string, string>;
  readonly value: number | string;
}

/** Prometheus writes sample values as strings, with "NaN", "+Inf" and "-Inf". */
function parseSampleValue(v: unknown): number {
  if (typeof v !== 'string') return NaN;
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

function jsonSafe(v: number | string): number | string {
  return typeof v === 'number' && !Number.isFinite(v) ? formatValue(v) : v;
}

function labelsText(l: Record<string, string>): string {
  const entries = Object.entries(l);
  return `{${entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
}

type Parsed = { samples: Sample[]; warnings: string[] } | { error: string };

function parseResponse(status: number, text: string): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: `Prometheus answered HTTP ${status} with a body that is not JSON: ${snippet(text) || '(empty)'}` };
  }
  const b = body as { status?: unknown; errorType?: unknown; error?: unknown; warnings?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (b?.status === 'error' || status < 200 || status > 299) {
    const detail = typeof b?.error === 'string' ? `${typeof b.errorType === 'string' ? `${b.errorType}: ` : ''}${b.error}` : snippet(text);
    return { error: `Prometheus: ${detail} (HTTP ${status})` };
  }
  const warnings = Array.isArray(b?.warnings) ? b.warnings.map(String) : [];
  const type = b?.data?.resultType;
  const result = b?.data?.result;
  switch (type) {
    case 'scalar':
      if (!Array.isArray(result)) break;
      return { samples: [{ labels: {}, value: parseSampleValue(result[1]) }], warnings };
    case 'string':
      if (!Array.isArray(result)) break;
      return { samples: [{ labels: {}, value: String(result[1]) }], warnings };
    case 'vector':
      if (!Array.isArray(result)) break;
      return {
        samples: result.map((s: { metric?: Record<string, string>; value?: unknown[] }) => ({
          labels: s?.metric ?? {},
          value: parseSampleValue(s?.value?.[1]),
        })),
        warnings,
      };
    case 'matrix':
      return { error: 'the query returns a range vector (matrix), a gate needs one value per series: wrap it, e.g. rate(x[5m]) or avg_over_time(x[5m])' };
  }
  return { error: `Prometheus answered with an unexpected result (resultType ${JSON.stringify(type)})` };
}

export async function measureMetric(spec: MetricGateSpec, o: MeasureOptions): Promise<Measurement> {
  const started = o.now();
  const at = new Date(started).toISOString();
  const done = (phase: MeasurementPhase, message: string, value?: unknown): Measurement =>
    (value === undefined ? { at, phase, message } : { at, phase, message, value });

  // Conditions first: a malformed one is an Error without bothering Prometheus.
  let success: Condition | undefined;
  let failure: Condition | undefined;
  try {
    if (spec.successCondition) success = parseCondition(spec.successCondition);
  } catch (e) {
    return done('Error', `successCondition ${JSON.stringify(spec.successCondition)}: ${(e as Error).message}`);
  }
  try {
    if (spec.failureCondition) failure = parseCondition(spec.failureCondition);
  } catch (e) {
    return done('Error', `failureCondition ${JSON.stringify(spec.failureCondition)}: ${(e as Error).message}`);
  }

  let url: URL;
  try {
    const base = spec.prometheus.endsWith('/') ? spec.prometheus : `${spec.prometheus}/`;
    url = new URL('api/v1/query', base);
  } catch {
    return done('Error', `invalid Prometheus URL ${JSON.stringify(spec.prometheus)}`);
  }
  const timeoutMs = o.timeoutMs ?? METRIC_TIMEOUT_MS;
  url.searchParams.set('query', spec.query);
  url.searchParams.set('time', (started / 1000).toFixed(3));
  // Prometheus gives up on the query too, instead of computing an answer nobody waits for.
  url.searchParams.set('timeout', `${Math.max(1, Math.floor(timeoutMs / 1000))}s`);

  let res;
  try {
    res = await boundedGet(url.href, { signal: o.signal, timeoutMs, maxBytes: MAX_RESPONSE_BYTES, headers: { accept: 'application/json' } });
  } catch (e) {
    if (!(e instanceof RequestError)) throw e;
    const where = `Prometheus at ${spec.prometheus}`;
    return done('Error', e.kind === 'timeout' ? `${where}: ${e.message}` : e.kind === 'network' ? `cannot reach ${where}: ${e.message}` : `${where}: ${e.message}`);
  }

  const parsed = parseResponse(res.status, res.text);
  if ('error' in parsed) return done('Error', parsed.error);
  const warn = parsed.warnings.length ? ` (Prometheus warns: ${parsed.warnings.join('; ')})` : '';
  const { samples } = parsed;
  if (samples.length === 0) return done('Inconclusive', `the query returned no data${warn}`);

  const results = samples.map((s) => s.value);
  const result = results[0];
  const value = results.length === 1 ? jsonSafe(result) : results.map(jsonSafe);
  const shown = samples.length === 1
    ? `result = ${formatValue(result)}`
    : `result = ${formatValue(result)} (first of ${samples.length} series, ${labelsText(samples[0].labels)}), results = ${formatValue(results)}`;

  const mentionsNaN = /\bisNaN\s*\(/.test(`${spec.successCondition ?? ''} ${spec.failureCondition ?? ''}`);
  if (!mentionsNaN && results.some((v) => typeof v === 'number' && Number.isNaN(v))) {
    return done('Inconclusive', `${shown}: NaN is no measurement (0/0, e.g. no requests in the window); test isNaN(result) in a condition to decide it${warn}`, value);
  }

  const env = { result, results };
  let ok = false;
  let bad = false;
  try {
    if (success) ok = evaluateCondition(success, env);
  } catch (e) {
    if (!(e instanceof ConditionError)) throw e;
    return done('Error', `${shown}: successCondition ${JSON.stringify(spec.successCondition)}: ${e.message}${warn}`, value);
  }
  try {
    if (failure) bad = evaluateCondition(failure, env);
  } catch (e) {
    if (!(e instanceof ConditionError)) throw e;
    return done('Error', `${shown}: failureCondition ${JSON.stringify(spec.failureCondition)}: ${e.message}${warn}`, value);
  }

  if (failure && bad) return done('Failed', `${shown}: failureCondition ${spec.failureCondition} is true${warn}`, value);
  if (success && !ok && !failure) return done('Failed', `${shown}: ${spec.successCondition} is false${warn}`, value);
  if (success && !ok) return done('Inconclusive', `${shown}: neither ${spec.successCondition} nor ${spec.failureCondition} holds${warn}`, value);
  const why = success ? `${spec.successCondition}` : failure ? `not ${spec.failureCondition}` : 'no condition';
  return done('Successful', `${shown} (${why})${warn}`, value);
}
