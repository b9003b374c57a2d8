/**
 * Measured gates against real servers: a real Prometheus (the Debian package, started by
 * test/prometheus/harness.ts) scraping an exporter this test serves on loopback, and an http
 * gate against a node:http server. Measurements are driven directly (measureMetric /
 * measureHttp, recordMeasurement, verdict, nextMeasurementAt), without the release controller.
 * A missing prometheus binary fails this file (never a skip): see test/prometheus/install.sh.
 */
import { Duration } from 'cdk8s';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gate, type HttpGateSpec, type MeasurementSpec, type MetricGateSpec } from '../../dsl/release.js';
import {
  type Measurement,
  type MeasurementState,
  measureHttp,
  measureMetric,
  nextMeasurementAt,
  recordMeasurement,
  verdict,
} from '../../engine/release/gates/index.js';
import { freePort } from '../cluster/controlplane.js';
import { isAlive } from '../cluster/processes.js';
import { type Exporter, type RunningPrometheus, prometheusVersion, startExporter, startPrometheus } from '../prometheus/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Date.now();

/**
 * Runs a gate as the engine would: measure whenever due, until the verdict is final (or
 * `max` measurements, a guard against a test that never ends).
 */
async function runGate<S extends MeasurementSpec>(spec: S, measure: (s: S) => Promise<Measurement>, max = 20) {
  let state: MeasurementState | undefined;
  const taken: Measurement[] = [];
  const times: number[] = [];
  for (let i = 0; i < max; i++) {
    const due = nextMeasurementAt(spec, state);
    if (due === undefined) break;
    await sleep(Math.max(0, due - Date.now()));
    times.push(Date.now());
    const m = await measure(spec);
    taken.push(m);
    state = recordMeasurement(state, m);
  }
  return { state: state!, taken, times, ...verdict(spec, state) };
}

describe('metric gate against a real Prometheus', () => {
  let exporter: Exporter;
  let prom: RunningPrometheus;
  let errorsPerScrape = 0;
  const ERROR_RATIO = 'sum(rate(app_errors_total[5s])) / sum(rate(app_requests_total[5s]))';
  const metric = (o: Partial<MetricGateSpec>): MetricGateSpec => ({
    ...(Gate.metric({ name: 'error-rate', prometheus: prom.url, query: ERROR_RATIO, successCondition: 'result < 0.01', interval: Duration.seconds(1) }).spec as MetricGateSpec),
    ...o,
  });

  beforeAll(async () => {
    exporter = await startExporter();
    exporter.set('app_requests_total', 0);
    exporter.set('app_errors_total', 0);
    exporter.set('app_idle_total', 0);
    exporter.set('app_queue_depth', 3, { queue: 'a' });
    exporter.set('app_queue_depth', 7, { queue: 'b' });
    // Traffic at the scrape rate: 100 requests per scrape, errorsPerScrape of them failing.
    exporter.onScrape(() => {
      exporter.inc('app_requests_total', 100);
      exporter.inc('app_errors_total', errorsPerScrape);
    });
    prom = await startPrometheus({ scrapeTargets: [exporter.target], scrapeIntervalSeconds: 1 });
    console.log(`[prometheus] ${prometheusVersion()} at ${prom.url}, scraping ${exporter.target}`);
    // rate() needs two samples in its window; the scrape after that is ingested for sure.
    await exporter.waitForScrapes(3);
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await exporter?.stop();
  });

  it('passes when the error ratio stays below the threshold for `count` measurements', async () => {
    const spec = metric({ count: 3 });
    const run = await runGate(spec, (s) => measureMetric(s, { now }));
    expect(run.verdict).toBe('Passed');
    expect(run.taken.map((m) => m.phase)).toEqual(['Successful', 'Successful', 'Successful']);
    expect(run.taken.map((m) => m.value)).toEqual([0, 0, 0]);
    expect(run.taken[0].message).toBe('result = 0 (result < 0.01)');
    expect(run.message).toBe('3 of 3 measurements taken: 3 successful, 0 failed, 0 inconclusive: result = 0 (result < 0.01)');
    // One interval apart (1 s), as nextMeasurementAt said.
    for (let i = 1; i < run.times.length; i++) expect(run.times[i] - run.times[i - 1]).toBeGreaterThanOrEqual(990);
  });

  it('fails on the first failed measurement once the error counter rises, with the value in the message', async () => {
    const spec = metric({ count: 30 });
    // Healthy first: the gate is pending with successful measurements.
    let state = recordMeasurement(undefined, await measureMetric(spec, { now }));
    expect(verdict(spec, state)).toMatchObject({ verdict: 'Pending', message: expect.stringMatching(/^1 of 30 measurements taken: 1 successful/) });

    errorsPerScrape = 20; // 20% of requests fail from now on (the next test goes on from there)
    {
      const run = await runGate(spec, async (s) => {
        const m = await measureMetric(s, { now });
        state = recordMeasurement(state, m);
        return m;
      });
      expect(run.verdict).toBe('Failed');
      const failed = run.taken[run.taken.length - 1];
      expect(failed.phase).toBe('Failed');
      expect(failed.value).toBeTypeOf('number');
      expect(failed.value as number).toBeGreaterThan(0.01);
      expect(failed.message).toBe(`result = ${failed.value}: result < 0.01 is false`);
      expect(run.message).toBe(`1 failed measurement (failureLimit 0): result = ${failed.value}: result < 0.01 is false`);
      expect(nextMeasurementAt(spec, run.state)).toBeUndefined();
      // Every measurement before the failure was still healthy.
      expect(run.taken.slice(0, -1).every((m) => m.phase === 'Successful')).toBe(true);

      // Once the 5 s window holds only the failing period the ratio is exactly 20 / 100.
      await exporter.waitForScrapes(7);
      const steady = await measureMetric(spec, { now });
      expect(steady).toMatchObject({ phase: 'Failed' });
      expect(steady.value as number).toBeCloseTo(0.2, 9);
    }
  });

  it('a failureLimit tolerates that many failed measurements', async () => {
    errorsPerScrape = 20;
    try {
      // Steady at 20% errors (at once if the previous test left it there).
      await expect.poll(async () => (await measureMetric(metric({}), { now })).value, { interval: 1000, timeout: 15_000 }).toBeCloseTo(0.2, 9);
      const run = await runGate(metric({ count: 5, failureLimit: 2 }), (s) => measureMetric(s, { now }));
      expect(run.taken.map((m) => m.phase)).toEqual(['Failed', 'Failed', 'Failed']);
      for (const m of run.taken) expect(m.value as number).toBeCloseTo(0.2, 9);
      expect(run).toMatchObject({ verdict: 'Failed', message: `3 failed measurements (failureLimit 2): result = ${run.taken[2].value}: result < 0.01 is false` });
    } finally {
      errorsPerScrape = 0;
    }
  });

  it('no data is Inconclusive, and the gate too with inconclusiveLimit 0', async () => {
    const run = await runGate(metric({ query: 'sum(rate(app_never_exported_total[5s]))' }), (s) => measureMetric(s, { now }));
    expect(run.taken).toHaveLength(1);
    expect(run.taken[0]).toMatchObject({ phase: 'Inconclusive', message: 'the query returned no data' });
    expect(run).toMatchObject({ verdict: 'Inconclusive', message: '1 inconclusive measurement (inconclusiveLimit 0): the query returned no data; approve or abort' });
  });

  it('0/0 (no traffic) is NaN: Inconclusive unless a condition decides it with isNaN', async () => {
    const query = 'sum(rate(app_idle_total[5s])) / sum(rate(app_idle_total[5s]))';
    expect(await measureMetric(metric({ query }), { now })).toMatchObject({ phase: 'Inconclusive', value: 'NaN', message: expect.stringContaining('result = NaN: NaN is no measurement') });
    expect(await measureMetric(metric({ query, successCondition: 'isNaN(result) || result < 0.01' }), { now })).toMatchObject({ phase: 'Successful', value: 'NaN' });
  });

  it('several series: result is the first in Prometheus order, results all of them', async () => {
    const m = await measureMetric(metric({ query: 'sort_desc(app_queue_depth)', successCondition: 'result < 5' }), { now });
    expect(m).toMatchObject({ phase: 'Failed', value: [7, 3] });
    expect(m.message).toMatch(/^result = 7 \(first of 2 series, \{.*queue="b".*\}\), results = \[7,3\]: result < 5 is false$/);
    const all = await measureMetric(metric({ query: 'app_queue_depth', successCondition: 'max(results) < 10 && min(results) >= 3 && len(results) == 2' }), { now });
    expect(all.phase).toBe('Successful');
  });

  it('a scalar and +Inf', async () => {
    expect(await measureMetric(metric({ query: 'scalar(sum(app_queue_depth))', successCondition: 'result == 10' }), { now })).toMatchObject({ phase: 'Successful', value: 10 });
    expect(await measureMetric(metric({ query: '1 / 0' }), { now })).toMatchObject({ phase: 'Failed', value: '+Inf', message: 'result = +Inf: result < 0.01 is false' });
  });

  it("a bad PromQL query is an Error with Prometheus' message; errors in a row fail the gate", async () => {
    const spec = metric({ query: 'sum(rate(app_requests_total[5s])', consecutiveErrorLimit: 1 });
    const run = await runGate(spec, (s) => measureMetric(s, { now }));
    expect(run.taken).toHaveLength(2);
    for (const m of run.taken) {
      expect(m.phase).toBe('Error');
      expect(m.message).toMatch(/^Prometheus: bad_data: invalid parameter "query": 1:\d+: parse error: unclosed left parenthesis \(HTTP 400\)$/);
    }
    expect(run.verdict).toBe('Failed');
    expect(run.message).toMatch(/^2 errors in a row \(consecutiveErrorLimit 1\): Prometheus: bad_data/);
    // Errors are retried after min(interval, 10 s): 1 s here.
    expect(run.times[1] - run.times[0]).toBeGreaterThanOrEqual(990);
  });

  it('a range vector query is an Error', async () => {
    expect(await measureMetric(metric({ query: 'app_requests_total[5s]' }), { now })).toMatchObject({ phase: 'Error', message: expect.stringContaining('range vector (matrix)') });
  });

  it('Prometheus down is an Error, and stop() leaves nothing running', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    expect(await measureMetric(metric({ prometheus: nobody }), { now })).toMatchObject({
      phase: 'Error', message: expect.stringMatching(new RegExp(`^cannot reach Prometheus at ${nobody}: .*ECONNREFUSED`)),
    });

    const url = prom.url;
    const up = metric({ query: 'scalar(sum(app_queue_depth))', successCondition: 'result == 10' });
    expect((await measureMetric(up, { now })).phase).toBe('Successful');
    await prom.stop();
    expect(isAlive(prom.pid)).toBe(false);
    expect(fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
      try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`127.0.0.1:${new URL(url).port}`); } catch { return false; }
    })).toBe(false);
    // Refused, or (a kept-alive connection of the last measurement) closed under the request: either way unreachable.
    expect(await measureMetric(up, { now })).toMatchObject({ phase: 'Error', message: expect.stringMatching(new RegExp(`^cannot reach Prometheus at ${url}: .*(ECONNREFUSED|other side closed)`)) });
  });
});

describe('the Prometheus harness', () => {
  it('a test process killed with SIGKILL leaves no Prometheus behind (the watchdog stops it)', async () => {
    const holder = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../prometheus/hold.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        holder.stdout!.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out.split('\n')[0]); });
        holder.once('exit', (code) => reject(new Error(`hold.ts exited (${code}) before Prometheus was up: ${out}`)));
      });
      const { pid, url } = JSON.parse(line) as { pid: number; url: string };
      expect((await fetch(`${url}/-/ready`)).status).toBe(200);
      holder.kill('SIGKILL');
      await expect.poll(() => isAlive(pid), { interval: 250, timeout: 10_000 }).toBe(false);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('http gate against a node:http server', () => {
  let server: http.Server;
  let base: string;
  const routes: Record<string, (res: http.ServerResponse) => void> = {
    '/healthz': (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'),
    '/status/ok': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', checks: [{ name: 'db', ok: true }], 'error-rate': 0.001 })),
    '/status/degraded': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'degraded', checks: [{ name: 'db', ok: false }], 'error-rate': 0.2 })),
    '/boom': (res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom: database unreachable'),
    '/unavailable': (res) => res.writeHead(503).end(),
    '/slow': (res) => { setTimeout(() => res.writeHead(200).end('{}'), 3000).unref(); },
  };

  beforeAll(async () => {
    server = http.createServer((req, res) => (routes[req.url ?? ''] ?? ((r) => r.writeHead(404).end('no such page')))(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  // The DSL's defaults (count 1, 10 s timeout), as a release plan would carry them.
  const gate = (path: string, o: { successCondition?: string } = {}) =>
    Gate.http({ url: `${base}${path}`, interval: Duration.seconds(1), ...o }).spec as HttpGateSpec;

  it('2xx passes; with the DSL default count 1 the gate passes on one measurement', async () => {
    const run = await runGate(gate('/healthz'), (s) => measureHttp(s, { now }));
    expect(run.taken).toEqual([{ at: expect.any(String), phase: 'Successful', value: 200, message: 'HTTP 200 OK' }]);
    expect(run.verdict).toBe('Passed');
  });

  it('500 fails with the status and the start of the body', async () => {
    expect(await measureHttp(gate('/boom'), { now })).toMatchObject({ phase: 'Failed', value: 500, message: 'HTTP 500 Internal Server Error: boom: database unreachable' });
    expect(await measureHttp(gate('/unavailable'), { now })).toMatchObject({ phase: 'Failed', value: 503, message: 'HTTP 503 Service Unavailable' });
    expect(await measureHttp(gate('/nothing-here'), { now })).toMatchObject({ phase: 'Failed', value: 404 });
  });

  it('no answer within the timeout is an Error', async () => {
    const t0 = Date.now();
    // Sub-second: set on the spec (the DSL takes whole seconds).
    const m = await measureHttp({ ...gate('/slow'), timeoutSeconds: 0.3 }, { now });
    expect(m).toMatchObject({ phase: 'Error', message: `${base}/slow: no answer within 0.3s` });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a refused connection is an Error', async () => {
    const url = `http://127.0.0.1:${await freePort()}/healthz`;
    const m = await measureHttp({ ...gate('/healthz'), url }, { now });
    expect(m).toMatchObject({ phase: 'Error', message: expect.stringMatching(new RegExp(`^cannot reach ${url}: .*ECONNREFUSED`)) });
  });

  it('a JSON condition decides a 2xx: true passes, false fails with the values it compared', async () => {
    const cond = 'body.status == "ok" && body["error-rate"] < 0.01 && body.checks[0].ok';
    expect(await measureHttp(gate('/status/ok', { successCondition: cond }), { now })).toMatchObject({ phase: 'Successful', value: 200, message: `HTTP 200 OK, ${cond}` });
    expect(await measureHttp(gate('/status/degraded', { successCondition: cond }), { now })).toMatchObject({
      phase: 'Failed', value: 200,
      message: `HTTP 200 OK, but ${cond} is false (body.status = "degraded", body["error-rate"] = 0.2, body.checks[0].ok = false)`,
    });
  });

  it('a condition over a body that is not JSON, or over a missing field, is an Error', async () => {
    expect(await measureHttp(gate('/healthz', { successCondition: 'body.status == "ok"' }), { now })).toMatchObject({
      phase: 'Error', message: 'HTTP 200 OK, but the body is not JSON (text/plain), so successCondition body.status == "ok" cannot be evaluated: ok',
    });
    expect(await measureHttp(gate('/status/ok', { successCondition: 'body.state == "ok"' }), { now })).toMatchObject({
      phase: 'Error', message: 'HTTP 200 OK, successCondition "body.state == \\"ok\\"": body has no field "state" (it has status, checks, "error-rate")',
    });
  });

  it('a failing http gate over several measurements: failureLimit 1 fails on the second failure', async () => {
    const spec = { ...gate('/status/degraded', { successCondition: 'body.status == "ok"' }), count: 3, failureLimit: 1 };
    const run = await runGate(spec, (s) => measureHttp(s, { now }));
    expect(run.taken.map((m) => m.phase)).toEqual(['Failed', 'Failed']);
    expect(run).toMatchObject({ verdict: 'Failed', message: expect.stringMatching(/^2 failed measurements \(failureLimit 1\): HTTP 200 OK, but body.status == "ok" is false \(body.status = "degraded"\)$/) });
  });
});
