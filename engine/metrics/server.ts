/**
 * The engine's HTTP endpoint for Prometheus and the kubelet:
 *   GET /metrics  the registry, in Prometheus' text format
 *   GET /healthz  200 while the process serves requests (liveness)
 *   GET /readyz   200 once the controller is working (Apps listed, leases started), else 503
 *                 with the reason (readiness)
 * Anything else is 404; only GET and HEAD are served. Nothing here reveals a secret: metric
 * labels are App names, verbs and codes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EngineMetrics } from './index.js';

export const DEFAULT_METRICS_HOST = '127.0.0.1';

export interface MetricsServerOptions {
  readonly port: number;
  /** @default 127.0.0.1 (0.0.0.0 in a pod, for Prometheus to reach it) */
  readonly host?: string;
  readonly metrics: EngineMetrics;
  /** Undefined when ready; otherwise why not (the body of the 503). */
  readonly notReady: () => string | undefined;
}

export interface MetricsServer {
  /** host:port, for a scrape config. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      o.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': o.metrics.registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (e: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`collecting metrics failed: ${e.message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const why = o.notReady();
      res.writeHead(why ? 503 : 200, { 'Content-Type': 'text/plain' }).end(why ? `not ready: ${why}\n` : 'ok\n');
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: /metrics, /healthz and /readyz are served\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? DEFAULT_METRICS_HOST, () => { server.off('error', reject); resolve(); });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.address}:${a.port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
