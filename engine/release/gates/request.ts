/**
 * One bounded GET for the measured gates: a timeout that covers the body too, a cap on the body
 * size, and failures sorted into what a measurement message needs (timeout, unreachable, too
 * large). An abort by the caller's signal is not a measurement: it rethrows the signal's reason.
 */

export interface MeasureOptions {
  /** The engine's clock: the time of the measurement (and of a Prometheus query). */
  now(): number;
  /** Aborts the request: the engine is stopping, no measurement is recorded. */
  signal?: AbortSignal;
  /** Overrides the request timeout. */
  timeoutMs?: number;
}

export class RequestError extends Error {
  constructor(readonly kind: 'timeout' | 'network' | 'too-large', message: string) {
    super(message);
    this.name = 'RequestError';
  }
}

export interface GetResult {
  readonly status: number;
  readonly statusText: string;
  readonly contentType: string;
  readonly text: string;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** Why fetch failed, from its cause chain (undici hides the errno behind "fetch failed"). */
function networkReason(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, i = 0; c && i < 4; c = (c as { cause?: unknown }).cause, i++) {
    const err = c as { code?: string; message?: string };
    // "connect ECONNREFUSED 127.0.0.1:9090" says more than the bare code.
    const text = err.message && err.message !== 'fetch failed' ? err.message : err.code;
    if (text && !parts.some((p) => p.includes(text) || text.includes(p))) parts.push(text);
  }
  return parts.join(': ') || String(e);
}

export async function boundedGet(url: string, o: { signal?: AbortSignal; timeoutMs: number; maxBytes: number; headers?: Record<string, string> }): Promise<GetResult> {
  if (o.signal?.aborted) throw o.signal.reason;
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; ac.abort(); }, o.timeoutMs);
  const onAbort = () => ac.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await fetch(url, { signal: ac.signal, headers: o.headers, redirect: 'follow' });
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > o.maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new RequestError('too-large', `the response is larger than ${o.maxBytes} bytes (${declared})`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > o.maxBytes) {
          await reader.cancel().catch(() => {});
          throw new RequestError('too-large', `the response is larger than ${o.maxBytes} bytes`);
        }
        chunks.push(value);
      }
    }
    return {
      status: res.status,
      statusText: res.statusText,
      contentType: res.headers.get('content-type') ?? '',
      text: Buffer.concat(chunks).toString('utf8'),
    };
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (e instanceof RequestError) throw e;
    if (timedOut) throw new RequestError('timeout', `no answer within ${seconds(o.timeoutMs)}`);
    throw new RequestError('network', networkReason(e));
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** The start of a body, on one line, for messages. */
export function snippet(text: string, max = 200): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 3)}...` : one;
}
