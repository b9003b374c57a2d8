/**
 * `--ui-port` and `--ui-host` of `kgitops controller` and `kgitops demo` (npm start): the
 * dashboard (engine/ui) over the controller. On a real cluster, tokens are checked by its
 * TokenReview and SubjectAccessReview; in the simulation one token is made at start and kept in a
 * file only this user can read (its path is printed; the token itself never is).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Clock } from '../clock.js';
import { KubeCluster } from '../cluster/kube.js';
import type { Cluster } from '../cluster/types.js';
import type { Controller } from '../controller/controller.js';
import { controllerDashboard } from '../controller/dashboard.js';
import type { Logger } from '../log.js';
import { clusterAuth, localTokenAuth } from '../ui/auth.js';
import { DEFAULT_UI_HOST, startUiServer, type UiServer } from '../ui/server.js';
import { printFailure } from './errors.js';

export interface DashboardFlags {
  uiPort?: string;
  uiHost?: string;
}

export function addDashboardOptions(cmd: Command, defaultPort?: string): Command {
  return cmd
    .option('--ui-port <port>', `serve the dashboard on this port${defaultPort ? '' : ' (default: no dashboard)'}`, defaultPort)
    .option('--ui-host <addr>', `address the dashboard listens on (default ${DEFAULT_UI_HOST}; any other needs a bearer token to read, too)`);
}

/** The dashboard, or undefined when no port is asked for, or false when it cannot listen (said on stderr). */
export async function startDashboard(
  opts: DashboardFlags, o: {
    controller: Controller; cluster: Cluster; clock: Clock; cacheDir: string; log: Logger;
    /** When the port is taken, serve on any free one instead (the demo's default port). */
    anyPortIfTaken?: boolean;
  },
): Promise<UiServer | undefined | false> {
  if (opts.uiPort === undefined) return undefined;
  const port = Number(opts.uiPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    printFailure(`--ui-port: "${opts.uiPort}" is not a port`, 'e.g. --ui-port 8080', 'text', 'Config');
    return false;
  }
  let auth;
  let tokenFile: string | undefined;
  if (o.cluster instanceof KubeCluster) {
    auth = clusterAuth(o.cluster);
  } else {
    const token = randomBytes(24).toString('base64url');
    mkdirSync(o.cacheDir, { recursive: true });
    tokenFile = join(o.cacheDir, 'dashboard-token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    auth = localTokenAuth(token, { username: 'demo-operator', groups: [], simulated: true });
  }
  const serve = (p: number) => startUiServer({ port: p, host: opts.uiHost ?? DEFAULT_UI_HOST, backend: controllerDashboard(o.controller, { cluster: o.cluster, clock: o.clock }), auth, log: o.log });
  try {
    const server = await serve(port).catch((e: NodeJS.ErrnoException) => {
      if (!(o.anyPortIfTaken && e.code === 'EADDRINUSE')) throw e;
      o.log.warn(`port ${port} is taken: the dashboard takes a free one (--ui-port to choose)`);
      return serve(0);
    });
    o.log.info({ url: server.url, ...(tokenFile ? { tokenFile } : {}) }, tokenFile
      ? `dashboard at ${server.url} (release actions: paste the token in ${tokenFile})`
      : `dashboard at ${server.url} (release actions need a bearer token the cluster accepts)`);
    return server;
  } catch (e) {
    printFailure(`cannot serve the dashboard on port ${opts.uiPort}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'pick another --ui-port', 'text', 'Config');
    return false;
  }
}
