/**
 * The contract of the measured gates (metric and http): Argo Rollouts' AnalysisRun semantics.
 * A gate takes a measurement every intervalSeconds; each measurement is Successful, Failed,
 * Inconclusive (neither condition holds, or no data) or Error (could not measure). The gate
 *   Fails        when failed > failureLimit, or consecutive errors > consecutiveErrorLimit;
 *   is Inconclusive when inconclusive > inconclusiveLimit (a person decides: approve or abort);
 *   Passes       once `count` measurements were taken within those limits;
 *   is Pending   otherwise.
 * The state is plain JSON: it lives in the release state annotation, so a restarted engine
 * continues counting where it stopped.
 */

export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

export interface Measurement {
  /** ISO time of the measurement. */
  readonly at: string;
  readonly phase: MeasurementPhase;
  /** The measured value (a number, a list of numbers, an HTTP status), when there is one. */
  readonly value?: unknown;
  /** What was measured or what went wrong, in words. */
  readonly message: string;
}

export interface MeasurementState {
  /** The last few measurements, oldest first (at most 10 kept). */
  readonly measurements: Measurement[];
  readonly successful: number;
  readonly failed: number;
  readonly inconclusive: number;
  readonly errors: number;
  readonly consecutiveErrors: number;
}

export type GateVerdict = 'Pending' | 'Passed' | 'Failed' | 'Inconclusive';
