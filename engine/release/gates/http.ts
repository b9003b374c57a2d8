/**
 * One measurement of an http gate: GET the URL within the gate's timeout.
 *   2xx, no condition                 Successful
 *   2xx, successCondition over `body` (the parsed JSON)   Successful or Failed (the values the
 *                                     condition compared are in the message)
 *   2xx, a condition, a body that is not JSON, or a condition that cannot be evaluated
 *                                     (missing field, wrong type)   Error
 *   any other status                  Failed, with the status and the start of the body
 *   unreachable, timeout              Error
 * The measurement's value is the HTTP status.
 */
import type { HttpGateSpec } from '../../../dsl/release.js';
import { type Condition, ConditionError, evaluateCondition, explainCondition, parseCondition } from '../../../dsl/condition.js';
import { boundedGet, type MeasureOptions, RequestError, snippet } from './request.js';
import type { Measurement, MeasurementPhase } from './types.js';

/** Names an http condition can use. */
export const HTTP_IDENTIFIERS = ['body'] as const;

const MAX_BODY_BYTES = 1024 * 1024;

export async function measureHttp(spec: HttpGateSpec, o: MeasureOptions): Promise<Measurement> {
  const at = new Date(o.now()).toISOString();
  const done = (phase: MeasurementPhase, message: string, value?: number): Measurement =>
    (value === undefined ? { at, phase, message } : { at, phase, message, value });

  let condition: Condition | undefined;
  try {
    if (spec.successCondition) condition = parseCondition(spec.successCondition);
  } catch (e) {
    return done('Error', `successCondition ${JSON.stringify(spec.successCondition)}: ${(e as Error).message}`);
  }
  try {
    const u = new URL(spec.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    return done('Error', `invalid URL ${JSON.stringify(spec.url)}`);
  }

  const timeoutMs = o.timeoutMs ?? (typeof spec.timeoutSeconds === 'number' && spec.timeoutSeconds > 0 ? spec.timeoutSeconds : 10) * 1000;
  let res;
  try {
    res = await boundedGet(spec.url, { signal: o.signal, timeoutMs, maxBytes: MAX_BODY_BYTES, headers: { accept: 'application/json, */*;q=0.5' } });
  } catch (e) {
    if (!(e instanceof RequestError)) throw e;
    return done('Error', e.kind === 'network' ? `cannot reach ${spec.url}: ${e.message}` : `${spec.url}: ${e.message}`);
  }

  const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (res.status < 200 || res.status > 299) {
    const body = snippet(res.text);
    return done('Failed', `${status}${body ? `: ${body}` : ''}`, res.status);
  }
  if (!condition) return done('Successful', status, res.status);

  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    return done('Error', `${status}, but the body is not JSON (${res.contentType || 'no content type'}), so successCondition ${spec.successCondition} cannot be evaluated: ${snippet(res.text) || '(empty)'}`, res.status);
  }
  const env = { body };
  let ok: boolean;
  try {
    ok = evaluateCondition(condition, env);
  } catch (e) {
    if (!(e instanceof ConditionError)) throw e;
    return done('Error', `${status}, successCondition ${JSON.stringify(spec.successCondition)}: ${e.message}`, res.status);
  }
  if (ok) return done('Successful', `${status}, ${spec.successCondition}`, res.status);
  const seen = explainCondition(condition, env);
  return done('Failed', `${status}, but ${spec.successCondition} is false${seen ? ` (${seen})` : ''}`, res.status);
}
