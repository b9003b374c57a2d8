/** Measured gates (metric and http): conditions, measurements and verdicts. See types.ts. */
export type { GateVerdict, Measurement, MeasurementPhase, MeasurementState } from './types.js';
export { checkCondition, type Condition, ConditionError, evaluateCondition, evaluateExpression, explainCondition, formatValue, parseCondition } from '../../../dsl/condition.js';
export { emptyMeasurementState, ERROR_RETRY_MS, KEPT_MEASUREMENTS, measurementsTaken, nextMeasurementAt, recordMeasurement, verdict } from './measure.js';
export { measureMetric, METRIC_IDENTIFIERS, METRIC_TIMEOUT_MS } from './metric.js';
export { HTTP_IDENTIFIERS, measureHttp } from './http.js';
export type { MeasureOptions } from './request.js';
