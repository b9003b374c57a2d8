/**
 * `--metrics-port` and `--metrics-host`, as `kgitops controller` and `kgitops sync` take them:
 * /metrics (Prometheus), /healthz and /readyz of the long-running engine.
 */
import type { Command } from 'commander';
import type { Logger } from '../log.js';
import type { EngineMetrics } from '../metrics/index.js';
import { DEFAULT_METRICS_HOST, type MetricsServer, startMetricsServer } from '../metrics/server.js';
import { printFailure } from './errors.js';

export interface MetricsFlags {
  metricsPort?: string;
  metricsHost?: string;
}

export function addMetricsOptions(cmd: Command): Command {
  return cmd
    .option('--metrics-port <port>', 'serve /metrics (Prometheus), /healthz and /readyz on this port')
    .option('--metrics-host <addr>', `address the metrics listen on (default ${DEFAULT_METRICS_HOST}; 0.0.0.0 in a pod)`);
}

/**
 * Starts the metrics server the flags ask for: undefined when they ask for none, or false when
 * it cannot listen (said on stderr, in one line with what to do).
 */
export async function serveMetrics(opts: MetricsFlags, metrics: EngineMetrics | undefined, notReady: () => string | undefined, log: Logger): Promise<MetricsServer | undefined | false> {
  if (!metrics || opts.metricsPort === undefined) return undefined;
  const port = Number(opts.metricsPort);
  try {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`"${opts.metricsPort}" is not a port`);
    const server = await startMetricsServer({ port, host: opts.metricsHost ?? DEFAULT_METRICS_HOST, metrics, notReady });
    log.info({ address: server.address }, 'serving /metrics, /healthz and /readyz');
    return server;
  } catch (e) {
    printFailure(`cannot serve metrics on port ${opts.metricsPort}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'pick another --metrics-port', 'text', 'Config');
    return false;
  }
}
