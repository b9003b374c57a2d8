/**
 * A real Prometheus for tests (the Debian package's binary, see install.sh) and a tiny metrics
 * exporter on loopback for it to scrape.
 *
 *   const exporter = await startExporter();
 *   exporter.set('app_requests_total', 0);
 *   const prom = await startPrometheus({ scrapeTargets: [exporter.target] });
 *   ... measureMetric({ prometheus: prom.url, query: 'app_requests_total', ... })
 *   await prom.stop(); await exporter.stop();
 *
 * Prometheus runs with its own config and storage in a temp dir, on a free loopback port, with
 * 1 s scrape and evaluation intervals. It is stopped by stop(), by a process 'exit' hook, and
 * by a detached watchdog if the test process dies (SIGKILL, OOM), so nothing outlives a run.
 * A missing binary fails the tests: never a skip.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../cluster/controlplane.js';
import { killAllSync, terminate, type TrackedProcess } from '../cluster/processes.js';

export class PrometheusHarnessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrometheusHarnessError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A detached shell that outlives this process: when the owner is gone (SIGKILL, OOM, a worker
 * terminated without 'exit' hooks) it kills Prometheus' process group and removes its dir. Its
 * own PATH, so that a test stubbing PATH cannot blind it.
 */
function spawnWatchdog(ownerPid: number, targetPid: number, dir: string): TrackedProcess {
  const script = [
    'owner=$1; target=$2; dir=$3',
    'while kill -0 "$owner" 2>/dev/null; do sleep 1; done',
    'kill -TERM "-$target" 2>/dev/null',
    'sleep 3',
    'kill -KILL "-$target" 2>/dev/null',
    'rm -rf -- "$dir"',
  ].join('\n');
  const child = spawn('/bin/sh', ['-c', script, 'kgitops-prometheus-watchdog', String(ownerPid), String(targetPid), dir], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
  });
  child.unref();
  return { name: 'prometheus-watchdog', pid: child.pid ?? -1, bin: '/bin/sh', child };
}

/** The prometheus binary: $KGITOPS_PROMETHEUS, else `prometheus` on PATH. Throws when missing. */
export function prometheusBinary(): string {
  const explicit = process.env.KGITOPS_PROMETHEUS;
  if (explicit) {
    if (fs.existsSync(explicit)) return explicit;
    throw new PrometheusHarnessError(`KGITOPS_PROMETHEUS=${explicit} does not exist`);
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const p = path.join(dir, 'prometheus');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  const how = process.env.CI === 'true'
    ? 'CI=true: .ci/run installs it with test/prometheus/install.sh (see test-results/prometheus-install.log); the metric-gate tests fail without it, they are never skipped'
    : 'install it with: bash test/prometheus/install.sh (the Debian package, as root)';
  throw new PrometheusHarnessError(`the prometheus binary was not found on PATH; ${how}`);
}

/** `prometheus --version`'s first line. */
export function prometheusVersion(bin = prometheusBinary()): string {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
}

export interface PrometheusOptions {
  /** host:port of every exporter to scrape (job "test"). */
  scrapeTargets: string[];
  /** @default 1 */
  scrapeIntervalSeconds?: number;
  /** How long to wait for readiness and for every target to be up. @default 30000 */
  startTimeoutMs?: number;
}

export interface RunningPrometheus {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly pid: number;
  /** Its log so far (stderr). */
  log(): string;
  /** Stops it (SIGTERM, then SIGKILL) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

async function getJson(url: string, timeoutMs = 2000): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
  return { status: res.status, body };
}

export async function startPrometheus(opts: PrometheusOptions): Promise<RunningPrometheus> {
  const bin = prometheusBinary();
  const interval = opts.scrapeIntervalSeconds ?? 1;
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgitops-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Plain YAML written by hand: JSON strings are valid YAML scalars.
  const config = [
    'global:',
    `  scrape_interval: ${interval}s`,
    `  scrape_timeout: ${interval}s`,
    `  evaluation_interval: ${interval}s`,
    'scrape_configs:',
    '  - job_name: test',
    '    static_configs:',
    `      - targets: [${opts.scrapeTargets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const logFile = path.join(dir, 'prometheus.log');
  const logFd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ], { detached: true, stdio: ['ignore', logFd, logFd], cwd: dir });
  } finally {
    fs.closeSync(logFd);
  }
  const tracked: TrackedProcess = { name: 'prometheus', pid: child.pid ?? -1, bin, child };
  let exited: string | undefined;
  child.on('exit', (code, signal) => { exited = `exited (${signal ?? `code ${code}`})`; });
  child.on('error', (e) => { exited = `could not start: ${e.message}`; });

  // If this process dies without stopping it, the watchdog kills it and removes the dir.
  const watchdog = tracked.pid > 0 ? spawnWatchdog(process.pid, tracked.pid, dir) : undefined;
  const onExit = () => killAllSync([tracked, ...(watchdog ? [watchdog] : [])]);
  process.once('exit', onExit);

  const readLog = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      process.removeListener('exit', onExit);
      if (exited === undefined && tracked.pid > 0) await terminate(tracked, 5000);
      if (watchdog) await terminate(watchdog, 1000);
      const logDir = process.env.KGITOPS_LOG_DIR;
      if (logDir) {
        try {
          fs.mkdirSync(logDir, { recursive: true });
          fs.copyFileSync(logFile, path.join(logDir, `prometheus-${port}.log`));
        } catch { /* logs are a courtesy */ }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const fail = async (why: string): Promise<never> => {
    const log = readLog().trim().split('\n').slice(-20).join('\n');
    await stop();
    throw new PrometheusHarnessError(`prometheus (${bin}) ${why}${log ? `\n--- its log:\n${log}` : ''}`);
  };

  const deadline = Date.now() + timeoutMs;
  // Ready: the TSDB is open and the config loaded.
  for (;;) {
    if (exited) return fail(exited);
    try {
      if ((await getJson(`${url}/-/ready`)).status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) return fail(`was not ready within ${timeoutMs} ms`);
    await sleep(100);
  }
  // Every target scraped successfully at least once, so queries have data.
  let lastState = '';
  for (;;) {
    if (exited) return fail(exited);
    try {
      const { body } = await getJson(`${url}/api/v1/targets?state=active`);
      const active = ((body as { data?: { activeTargets?: Array<{ labels?: { instance?: string }; health?: string; lastError?: string }> } })?.data?.activeTargets) ?? [];
      const states = opts.scrapeTargets.map((t) => {
        const a = active.find((x) => x.labels?.instance === t);
        return { t, health: a?.health ?? 'unknown', error: a?.lastError ?? '' };
      });
      if (states.every((s) => s.health === 'up')) break;
      lastState = states.map((s) => `${s.t}: ${s.health}${s.error ? ` (${s.error})` : ''}`).join(', ');
    } catch (e) {
      lastState = (e as Error).message;
    }
    if (Date.now() > deadline) return fail(`targets not up within ${timeoutMs} ms: ${lastState}`);
    await sleep(200);
  }

  return { url, pid: tracked.pid, log: readLog, stop };
}

// ---- exporter ----------------------------------------------------------------------------------

export type Labels = Record<string, string>;

export interface Exporter {
  /** host:port to put in a scrape config. */
  readonly target: string;
  /** Sets a sample (a gauge, or a counter's total). Names ending in _total are typed counter. */
  set(name: string, value: number, labels?: Labels): void;
  /** Adds to a sample (starting from 0). */
  inc(name: string, by?: number, labels?: Labels): void;
  /** The current value of a sample. */
  get(name: string, labels?: Labels): number | undefined;
  /** Removes a sample (all of a name without labels). */
  remove(name: string, labels?: Labels): void;
  /** Runs `fn` before each scrape is answered (e.g. to move counters at the scrape rate). */
  onScrape(fn: (() => void) | undefined): void;
  /** Scrapes answered so far. */
  readonly scrapes: number;
  /** Resolves once `n` more scrapes were answered. */
  waitForScrapes(n?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function labelKey(labels: Labels = {}): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}` : '';
}

function sampleValue(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A metrics endpoint (text exposition format 0.0.4) on 127.0.0.1 whose values tests set. */
export async function startExporter(): Promise<Exporter> {
  const metrics = new Map<string, Map<string, number>>();
  let hook: (() => void) | undefined;
  let scrapes = 0;
  const waiters: Array<{ at: number; resolve: () => void }> = [];

  const render = (): string => {
    const lines: string[] = [];
    for (const [name, samples] of [...metrics].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`);
      for (const [key, v] of samples) lines.push(`${name}${key} ${sampleValue(v)}`);
    }
    return lines.join('\n') + '\n';
  };

  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    try {
      hook?.();
    } catch (e) {
      res.writeHead(500).end(`onScrape hook failed: ${(e as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(render());
    scrapes++;
    for (const w of waiters.filter((x) => x.at <= scrapes)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const check = (name: string) => {
    if (!METRIC_NAME.test(name)) throw new Error(`not a metric name: ${JSON.stringify(name)}`);
  };
  const set = (name: string, value: number, labels?: Labels) => {
    check(name);
    let m = metrics.get(name);
    if (!m) metrics.set(name, (m = new Map()));
    m.set(labelKey(labels), value);
  };

  return {
    target: `127.0.0.1:${port}`,
    set,
    inc(name, by = 1, labels) {
      set(name, (metrics.get(name)?.get(labelKey(labels)) ?? 0) + by, labels);
    },
    get(name, labels) {
      return metrics.get(name)?.get(labelKey(labels));
    },
    remove(name, labels) {
      if (labels) metrics.get(name)?.delete(labelKey(labels));
      else metrics.delete(name);
    },
    onScrape(fn) {
      hook = fn;
    },
    get scrapes() {
      return scrapes;
    },
    waitForScrapes(n = 1, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const w = { at: scrapes + n, resolve: () => { clearTimeout(t); resolve(); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no ${n} scrape(s) within ${timeoutMs} ms (${scrapes} so far)`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
