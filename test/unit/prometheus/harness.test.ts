/**
 * The Prometheus test harness fails loudly and cleans up: a missing binary is an error (never a
 * skip) whose message says what to do, a Prometheus that dies or never gets ready rejects with
 * its log and leaves no process or temp dir behind. And the exporter speaks the text format.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isAlive } from '../../cluster/processes.js';
import { PrometheusHarnessError, startExporter, startPrometheus } from '../../prometheus/harness.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgitops-prom-harness-test-'));
});
afterEach(() => {
  vi.unstubAllEnvs();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const tempDirs = () => fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith('kgitops-prometheus-'));

function fakePrometheus(script: string): string {
  const bin = path.join(tmp, 'prometheus');
  fs.writeFileSync(bin, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return bin;
}

describe('a missing prometheus binary', () => {
  it('fails under CI=true with a message that it is never skipped', async () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('PATH', tmp);
    vi.stubEnv('KGITOPS_PROMETHEUS', '');
    const err = await startPrometheus({ scrapeTargets: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusHarnessError);
    expect((err as Error).message).toBe(
      'the prometheus binary was not found on PATH; CI=true: .ci/run installs it with test/prometheus/install.sh (see test-results/prometheus-install.log); the metric-gate tests fail without it, they are never skipped',
    );
  });

  it('locally, says how to install it', async () => {
    vi.stubEnv('CI', '');
    vi.stubEnv('PATH', tmp);
    vi.stubEnv('KGITOPS_PROMETHEUS', '');
    await expect(startPrometheus({ scrapeTargets: [] })).rejects.toThrow('install it with: bash test/prometheus/install.sh (the Debian package, as root)');
  });

  it('KGITOPS_PROMETHEUS pointing nowhere is an error too', async () => {
    vi.stubEnv('KGITOPS_PROMETHEUS', path.join(tmp, 'nope'));
    await expect(startPrometheus({ scrapeTargets: [] })).rejects.toThrow(`KGITOPS_PROMETHEUS=${path.join(tmp, 'nope')} does not exist`);
  });
});

describe('a prometheus that does not come up', () => {
  it('exits at once: rejects with its exit code and log, removes its temp dir', async () => {
    vi.stubEnv('KGITOPS_PROMETHEUS', fakePrometheus('echo "unknown flag --frobnicate" >&2\nexit 3'));
    const before = tempDirs();
    const err = await startPrometheus({ scrapeTargets: [], startTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusHarnessError);
    expect((err as Error).message).toMatch(/^prometheus \(.*\) exited \(code 3\)\n--- its log:\nunknown flag --frobnicate$/);
    expect(tempDirs()).toEqual(before);
  });

  it('never ready: rejects after the timeout and kills it', async () => {
    const pidFile = path.join(tmp, 'pid');
    vi.stubEnv('KGITOPS_PROMETHEUS', fakePrometheus(`echo $$ > ${pidFile}\necho "stuck" >&2\nexec sleep 60`));
    const before = tempDirs();
    const err = await startPrometheus({ scrapeTargets: [], startTimeoutMs: 500 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^prometheus \(.*\) was not ready within 500 ms\n--- its log:\nstuck$/);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
    expect(tempDirs()).toEqual(before);
  });
});

describe('startExporter', () => {
  it('serves the text exposition format with the values set, and counts scrapes', async () => {
    const ex = await startExporter();
    try {
      ex.set('app_requests_total', 5);
      ex.inc('app_requests_total', 2);
      ex.inc('app_errors_total');
      ex.set('app_temp', 1.5, { room: 'a "b"\\c', zone: 'eu' });
      ex.set('app_temp', NaN, { room: 'x' });
      ex.set('app_limit', Infinity);
      let hooks = 0;
      ex.onScrape(() => { hooks++; });
      expect(ex.get('app_requests_total')).toBe(7);
      expect(ex.target).toMatch(/^127\.0\.0\.1:\d+$/);

      const waiting = ex.waitForScrapes(1);
      const text = await (await fetch(`http://${ex.target}/metrics`)).text();
      await waiting;
      expect(text).toBe([
        '# TYPE app_errors_total counter',
        'app_errors_total 1',
        '# TYPE app_limit gauge',
        'app_limit +Inf',
        '# TYPE app_requests_total counter',
        'app_requests_total 7',
        '# TYPE app_temp gauge',
        'app_temp{room="a \\"b\\"\\\\c",zone="eu"} 1.5',
        'app_temp{room="x"} NaN',
        '',
      ].join('\n'));
      expect(ex.scrapes).toBe(1);
      expect(hooks).toBe(1);

      ex.remove('app_temp', { room: 'x' });
      ex.remove('app_limit');
      const again = await (await fetch(`http://${ex.target}/metrics`)).text();
      expect(again).not.toContain('room="x"');
      expect(again).not.toContain('app_limit');
      expect((await fetch(`http://${ex.target}/other`)).status).toBe(404);
      expect(() => ex.set('bad-name', 1)).toThrow('not a metric name: "bad-name"');
      await expect(ex.waitForScrapes(1, 100)).rejects.toThrow('no 1 scrape(s) within 100 ms (2 so far)');
    } finally {
      await ex.stop();
    }
  });
});
