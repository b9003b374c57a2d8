/**
 * measureMetric against a canned Prometheus API on loopback: the request it sends, every result
 * type, NaN and infinities, errors, and Argo's success/failure condition table. (The real
 * Prometheus is in test/integration/prometheus-gate.test.ts.)
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricGateSpec } from '../../../../dsl/release.js';
import { measureMetric } from '../../../../engine/release/gates/metric.js';

let server: http.Server;
let base: string;
let reply: { status: number; body: string; contentType?: string; delayMs?: number } = { status: 200, body: '' };
const requests: URL[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(new URL(req.url!, 'http://x'));
    const send = () => res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'application/json' }).end(reply.body);
    if (reply.delayMs) setTimeout(send, reply.delayMs).unref();
    else send();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const NOW = Date.UTC(2026, 10, 23, 9, 0, 0, 250);
const spec = (o: Partial<MetricGateSpec> = {}): MetricGateSpec => ({
  type: 'metric', name: 'errors', prometheus: base, query: 'q', successCondition: 'result < 0.01',
  intervalSeconds: 60, count: 3, failureLimit: 0, consecutiveErrorLimit: 4, inconclusiveLimit: 0, ...o,
});
const vector = (...samples: Array<[Record<string, string>, string]>) => JSON.stringify({
  status: 'success', data: { resultType: 'vector', result: samples.map(([metric, v]) => ({ metric, value: [NOW / 1000, v] })) },
});
const scalar = (v: string) => JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [NOW / 1000, v] } });
const measure = async (o: Partial<MetricGateSpec> = {}, body?: string, status = 200) => {
  if (body !== undefined) reply = { status, body };
  return measureMetric(spec(o), { now: () => NOW });
};

describe('the request', () => {
  it('is an instant query at the engine clock time, with a timeout for Prometheus too', async () => {
    requests.length = 0;
    await measure({ query: 'sum(rate(x_total{a="b"}[1m]))' }, vector([{}, '0']));
    const u = requests[0];
    expect(u.pathname).toBe('/api/v1/query');
    expect(u.searchParams.get('query')).toBe('sum(rate(x_total{a="b"}[1m]))');
    expect(u.searchParams.get('time')).toBe('1795424400.250');
    expect(u.searchParams.get('timeout')).toBe('10s');
  });

  it('keeps a path prefix of the Prometheus URL', async () => {
    requests.length = 0;
    await measure({ prometheus: `${base}/prom` }, vector([{}, '0']));
    expect(requests[0].pathname).toBe('/prom/api/v1/query');
    await measure({ prometheus: `${base}/prom/` });
    expect(requests[1].pathname).toBe('/prom/api/v1/query');
  });

  it('records the time of the measurement', async () => {
    expect((await measure({}, vector([{}, '0']))).at).toBe('2026-11-23T09:00:00.250Z');
  });
});

describe('results', () => {
  it('one sample: result is its value', async () => {
    expect(await measure({}, vector([{ job: 'web' }, '0.004']))).toMatchObject({ phase: 'Successful', value: 0.004, message: 'result = 0.004 (result < 0.01)' });
    expect(await measure({}, vector([{}, '0.25']))).toMatchObject({ phase: 'Failed', value: 0.25, message: 'result = 0.25: result < 0.01 is false' });
  });

  it('a scalar', async () => {
    expect(await measure({}, scalar('0.5'))).toMatchObject({ phase: 'Failed', value: 0.5 });
  });

  it('a string result is a string', async () => {
    const body = JSON.stringify({ status: 'success', data: { resultType: 'string', result: [NOW / 1000, 'ok'] } });
    expect(await measure({ successCondition: 'result == "ok"' }, body)).toMatchObject({ phase: 'Successful', value: 'ok' });
  });

  it('several samples: result is the first (in Prometheus order), results all of them', async () => {
    const body = vector([{ pod: 'b' }, '0.3'], [{ pod: 'a' }, '0.001'], [{ pod: 'c' }, '0.002']);
    expect(await measure({}, body)).toEqual({
      at: '2026-11-23T09:00:00.250Z', phase: 'Failed', value: [0.3, 0.001, 0.002],
      message: 'result = 0.3 (first of 3 series, {pod="b"}), results = [0.3,0.001,0.002]: result < 0.01 is false',
    });
    expect(await measure({ successCondition: 'max(results) < 0.5 && len(results) == 3' })).toMatchObject({ phase: 'Successful' });
    expect(await measure({ successCondition: 'results[1] < 0.01' })).toMatchObject({ phase: 'Successful' });
  });

  it('an empty vector is Inconclusive: no data', async () => {
    expect(await measure({}, vector())).toEqual({ at: '2026-11-23T09:00:00.250Z', phase: 'Inconclusive', message: 'the query returned no data' });
  });

  it('NaN is Inconclusive unless a condition tests isNaN, and is stored as "NaN"', async () => {
    const m = await measure({}, vector([{}, 'NaN']));
    expect(m).toMatchObject({ phase: 'Inconclusive', value: 'NaN' });
    expect(m.message).toBe('result = NaN: NaN is no measurement (0/0, e.g. no requests in the window); test isNaN(result) in a condition to decide it');
    expect(await measure({ successCondition: 'isNaN(result) || result < 0.01' })).toMatchObject({ phase: 'Successful', value: 'NaN' });
    expect(await measure({ successCondition: 'result < 0.01', failureCondition: 'isNaN(result)' })).toMatchObject({ phase: 'Failed' });
    expect(await measure({ failureCondition: 'result > 0.1' }, vector([{}, '0'], [{}, 'NaN']))).toMatchObject({ phase: 'Inconclusive', value: [0, 'NaN'] });
  });

  it('+Inf and -Inf compare as numbers and are stored as Prometheus writes them', async () => {
    expect(await measure({}, vector([{}, '+Inf']))).toMatchObject({ phase: 'Failed', value: '+Inf', message: 'result = +Inf: result < 0.01 is false' });
    expect(await measure({}, scalar('-Inf'))).toMatchObject({ phase: 'Successful', value: '-Inf' });
    expect(await measure({ successCondition: 'isInf(result)' }, scalar('+Inf'))).toMatchObject({ phase: 'Successful' });
  });

  it('the measurement is plain JSON', async () => {
    const m = await measure({}, vector([{}, 'NaN'], [{}, '+Inf']));
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });

  it('a range vector is an Error', async () => {
    const body = JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[1, '1']] }] } });
    expect(await measure({}, body)).toMatchObject({ phase: 'Error', message: expect.stringContaining('range vector (matrix)') });
  });

  it('passes Prometheus warnings on', async () => {
    const body = JSON.stringify({ status: 'success', warnings: ['something odd'], data: { resultType: 'vector', result: [] } });
    expect((await measure({}, body)).message).toBe('the query returned no data (Prometheus warns: something odd)');
  });
});

describe("conditions (Argo's table)", () => {
  const at = async (value: string, o: Partial<MetricGateSpec>) => (await measure(o, vector([{}, value]))).phase;

  it('successCondition only: true passes, false fails', async () => {
    expect(await at('0.001', { successCondition: 'result < 0.01' })).toBe('Successful');
    expect(await at('0.1', { successCondition: 'result < 0.01' })).toBe('Failed');
  });

  it('failureCondition only: true fails, false passes', async () => {
    const o = { successCondition: '', failureCondition: 'result > 0.05' };
    expect(await at('0.1', o)).toBe('Failed');
    expect(await at('0.01', o)).toBe('Successful');
    expect((await measure(o, vector([{}, '0.01']))).message).toBe('result = 0.01 (not result > 0.05)');
  });

  it('both: failure wins, neither is Inconclusive', async () => {
    const o = { successCondition: 'result < 0.01', failureCondition: 'result > 0.05' };
    expect(await at('0.001', o)).toBe('Successful');
    expect(await at('0.1', o)).toBe('Failed');
    expect(await at('0.03', o)).toBe('Inconclusive');
    expect((await measure(o, vector([{}, '0.03']))).message).toBe('result = 0.03: neither result < 0.01 nor result > 0.05 holds');
    expect(await at('0.001', { successCondition: 'result < 0.01', failureCondition: 'result >= 0' })).toBe('Failed');
    expect((await measure({ failureCondition: 'result > 0.05' }, vector([{}, '0.1']))).message).toBe('result = 0.1: failureCondition result > 0.05 is true');
  });

  it('neither (a hand-written spec): any value passes', async () => {
    expect(await at('123', { successCondition: '' })).toBe('Successful');
  });

  it('a malformed condition is an Error that says where, and Prometheus is not asked', async () => {
    requests.length = 0;
    const m = await measure({ successCondition: 'result <' });
    expect(m).toMatchObject({ phase: 'Error', message: 'successCondition "result <": expected a value (a number, a string, a name or "("), found the end of the condition at column 9' });
    expect(requests).toHaveLength(0);
    expect((await measure({ failureCondition: 'result >> 1' })).message).toMatch(/^failureCondition "result >> 1": expected a value .* at column 9$/);
  });

  it('a condition that cannot be evaluated is an Error with the value', async () => {
    expect(await measure({ successCondition: 'result[0] < 0.01' }, vector([{}, '0.2']))).toMatchObject({
      phase: 'Error', value: 0.2,
      message: 'result = 0.2: successCondition "result[0] < 0.01": result is a number (0.2) and cannot be indexed: result is the first sample\'s value already (all values are in results, e.g. results[0])',
    });
    expect(await measure({ successCondition: 'result < 1', failureCondition: 'results[3] > 1' })).toMatchObject({ phase: 'Error', message: expect.stringContaining('index 3 is out of range') });
  });
});

describe('errors', () => {
  it('a Prometheus error: its type and message, and the HTTP status', async () => {
    const body = JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:5: parse error: unexpected <EOF>' });
    expect(await measure({}, body, 400)).toMatchObject({ phase: 'Error', message: 'Prometheus: bad_data: invalid parameter "query": 1:5: parse error: unexpected <EOF> (HTTP 400)' });
    const exec = JSON.stringify({ status: 'error', errorType: 'execution', error: 'query timed out in expression evaluation' });
    expect((await measure({}, exec, 503)).message).toBe('Prometheus: execution: query timed out in expression evaluation (HTTP 503)');
  });

  it('something that is not Prometheus (a proxy page)', async () => {
    reply = { status: 502, body: '<html><body>Bad Gateway</body></html>', contentType: 'text/html' };
    expect(await measure()).toMatchObject({ phase: 'Error', message: 'Prometheus answered HTTP 502 with a body that is not JSON: <html><body>Bad Gateway</body></html>' });
    reply = { status: 200, body: '{"status":"success","data":{}}' };
    expect(await measure()).toMatchObject({ phase: 'Error', message: 'Prometheus answered with an unexpected result (resultType undefined)' });
    reply = { status: 404, body: '{"not":"prometheus"}' };
    expect(await measure()).toMatchObject({ phase: 'Error', message: 'Prometheus: {"not":"prometheus"} (HTTP 404)' });
  });

  it('no answer within the timeout', async () => {
    reply = { status: 200, body: vector([{}, '0']), delayMs: 2000 };
    const t0 = Date.now();
    const m = await measureMetric(spec(), { now: () => NOW, timeoutMs: 200 });
    expect(m).toMatchObject({ phase: 'Error', message: `Prometheus at ${base}: no answer within 0.2s` });
    expect(Date.now() - t0).toBeLessThan(1500);
    reply = { status: 200, body: vector([{}, '0']) };
  });

  it('an invalid URL', async () => {
    expect(await measure({ prometheus: 'not a url' })).toMatchObject({ phase: 'Error', message: 'invalid Prometheus URL "not a url"' });
  });

  it("the caller's abort is not a measurement: it rejects", async () => {
    reply = { status: 200, body: vector([{}, '0']), delayMs: 2000 };
    const ac = new AbortController();
    const p = measureMetric(spec(), { now: () => NOW, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('engine stopping')), 50);
    await expect(p).rejects.toThrow('engine stopping');
    await expect(measureMetric(spec(), { now: () => NOW, signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    reply = { status: 200, body: vector([{}, '0']) };
  });
});
