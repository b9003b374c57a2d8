/**
 * Starts a Prometheus (no targets), prints {"pid", "url"} on one line and waits to be killed:
 * the integration test SIGKILLs this process to check that the watchdog stops Prometheus.
 */
import { startPrometheus } from './harness.js';

const prom = await startPrometheus({ scrapeTargets: [] });
process.stdout.write(`${JSON.stringify({ pid: prom.pid, url: prom.url })}\n`);
setInterval(() => {}, 60_000);
