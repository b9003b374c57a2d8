/**
 * The dashboard's HTTP server (`kgitops controller --ui-port`, and `npm start`):
 *
 *   GET  /                      the Apps                      GET /api/apps              the same, JSON
 *   GET  /apps/<ns>/<name>      one App and its releases      GET /api/apps/<ns>/<name>  the same, JSON
 *   GET  /events                server-sent events: `app` with {key} whenever an App or one of its releases changes
 *   POST /api/release-commands  approve | pause | resume | abort a release ({fleet: true}: the App's fleet release)
 *   POST /api/session           {token}: a cookie for reading, when the server is not on loopback
 *
 * Who may do what: on a loopback address, reading needs nothing. Any other bind needs a bearer
 * token for everything. Writes always need one, in the Authorization header (never a cookie, so
 * another site cannot make a browser send one), are refused from another Origin, and must be
 * JSON. The token is checked with a TokenReview, and the command is authorized with a
 * SubjectAccessReview for what `kgitops approve` needs (patch on the workload), so the cluster's
 * RBAC decides; the approver recorded is the identity the TokenReview returned.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from '../cluster/errors.js';
import type { ObjectKey, UserIdentity } from '../cluster/types.js';
import { CommandError } from '../release/commands.js';
import type { AppObject } from '../controller/app-resource.js';
import type { Logger } from '../log.js';
import { appMain, appsMain, esc, page } from './html.js';
import type { AppDetails } from './view.js';

export const DEFAULT_UI_HOST = '127.0.0.1';
const ACTIONS = new Set(['approve', 'pause', 'resume', 'abort']);
const COOKIE = 'kgitops_token';

/** What the dashboard reads and does: the controller (engine/controller) implements it. */
export interface UiBackend {
  readonly simulated: boolean;
  apps(): AppObject[];
  app(key: string): AppObject | undefined;
  /** The App as `kgitops status` reads it (live health) and its workloads' releases, read as the App. */
  details(key: string): Promise<AppDetails>;
  /** The permission a release command on the workload needs (what `kgitops approve` does: patch it). */
  commandPermission(workload: ObjectKey): Promise<{ group: string; resource: string }>;
  /** Appends the command for the workload's release in progress; `by` is who gave it. */
  command(key: string, workload: ObjectKey, c: { action: 'approve' | 'pause' | 'resume' | 'abort'; step?: number }, by: UserIdentity): Promise<string>;
  /** Appends the command for the App's fleet release in progress (`wave` from 0); `by` is who gave it. */
  fleetCommand(key: string, c: { action: 'approve' | 'pause' | 'resume' | 'abort'; wave?: number }, by: UserIdentity): Promise<string>;
  /** Calls `listener` with an App's key whenever it or one of its releases changes. */
  subscribe(listener: (key: string) => void): () => void;
}

/** Bearer tokens: who they are (TokenReview) and what they may do (SubjectAccessReview). */
export interface UiAuth {
  authenticate(token: string): Promise<UserIdentity | undefined>;
  authorize(user: UserIdentity, a: { verb: string; group: string; resource: string; namespace?: string; name: string }): Promise<{ allowed: boolean; reason?: string }>;
}

export interface UiServerOptions {
  readonly port: number;
  readonly host?: string;
  readonly backend: UiBackend;
  readonly auth: UiAuth;
  readonly log: Logger;
}

export interface UiServer {
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly hint?: string) {
    super(message);
  }
}

const isLoopback = (host: string) => host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1];
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

async function body(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
}

function send(res: ServerResponse, status: number, type: string, text: string): void {
  res.writeHead(status, {
    'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer',
    // Only this page's own inline script and style; nothing from elsewhere.
    'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  });
  res.end(text);
}
const json = (res: ServerResponse, status: number, v: unknown) => send(res, status, 'application/json', `${JSON.stringify(v)}\n`);

/** The TokenReview or SubjectAccessReview itself failed (RBAC of the controller, an unreachable apiserver): 503, saying so. */
async function asking<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new HttpError(503, `cannot ${what}: ${(e as Error).message}`,
      'the controller needs create on tokenreviews.authentication.k8s.io and subjectaccessreviews.authorization.k8s.io (kgitops install grants both)');
  }
}

export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const host = o.host ?? DEFAULT_UI_HOST;
  const open = isLoopback(host);
  const streams = new Set<ServerResponse>();
  const unsubscribe = o.backend.subscribe((key) => {
    for (const s of streams) s.write(`event: app\ndata: ${JSON.stringify({ key })}\n\n`);
  });
  const heartbeat = setInterval(() => { for (const s of streams) s.write(': keep-alive\n\n'); }, 25_000);
  heartbeat.unref();

  /** Reads: free on loopback; elsewhere a token (header or the session cookie) that authenticates. */
  const mayRead = async (req: IncomingMessage): Promise<void> => {
    if (open) return;
    const token = bearer(req) ?? cookie(req, COOKIE);
    if (!token || !(await asking('check the token', () => o.auth.authenticate(token)))) throw new HttpError(401, 'this dashboard is not on loopback: give a bearer token', 'POST /api/session {"token": ...}, or use the token form at the top of the page');
  };

  /** A fleet command: the permission `kgitops approve <app> --wave` needs, patch on the App. */
  const fleetCommand = async (res: ServerResponse, user: UserIdentity, key: string, app: AppObject, action: 'approve' | 'pause' | 'resume' | 'abort', wave: unknown) => {
    const verdict = await asking('authorize the command', () => o.auth.authorize(user, { verb: 'patch', group: 'kgitops.io', resource: 'apps', namespace: app.metadata.namespace, name: app.metadata.name }));
    if (!verdict.allowed) {
      throw new HttpError(403, `${user.username} may not patch apps.kgitops.io ${app.metadata.name} in ${app.metadata.namespace}${verdict.reason ? ` (${verdict.reason})` : ''}`,
        'a fleet command needs the same RBAC as kgitops approve --wave: patch on the App');
    }
    const n = action === 'approve' && typeof wave === 'number' && Number.isInteger(wave) ? wave - 1 : undefined;
    try {
      return json(res, 200, { message: await o.backend.fleetCommand(key, { action, ...(n !== undefined ? { wave: n } : {}) }, user) });
    } catch (e) {
      if (e instanceof CommandError) throw new HttpError(409, e.message, e.hint);
      if (e instanceof ApiError) throw new HttpError(e.status === 403 ? 403 : 409, e.message, e.hint);
      throw e;
    }
  };

  const command = async (req: IncomingMessage, res: ServerResponse) => {
    // CSRF: a browser sends another site's JSON POST only after a preflight we never answer, and
    // never our Authorization header; the Origin, when sent, must be this server.
    const origin = req.headers.origin;
    if (origin && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) throw new HttpError(403, `requests from ${origin} are not accepted`);
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'send JSON (Content-Type: application/json)');
    const token = bearer(req);
    if (!token) throw new HttpError(401, 'release commands need a bearer token', 'give one in the token form (kubectl create token <serviceaccount>, or your own credentials\' token)');
    const user = await asking('check the token', () => o.auth.authenticate(token));
    if (!user) throw new HttpError(401, 'the cluster does not accept this token (TokenReview)', 'check that it is current: kubectl create token issues a new one');
    const b = (await body(req)) as { app?: unknown; workload?: Partial<ObjectKey>; action?: unknown; step?: unknown };
    const action = typeof b.action === 'string' && ACTIONS.has(b.action) ? b.action as 'approve' : undefined;
    if (!action) throw new HttpError(400, `action must be one of ${[...ACTIONS].join(', ')}`);
    const key = typeof b.app === 'string' ? b.app : '';
    const app = o.backend.app(key);
    if (!app) throw new HttpError(404, `no App ${key}`);
    if ((b as { fleet?: unknown }).fleet === true) return fleetCommand(res, user, key, app, action, (b as { wave?: unknown }).wave);
    const w = b.workload;
    if (!w || typeof w.apiVersion !== 'string' || typeof w.kind !== 'string' || typeof w.name !== 'string') throw new HttpError(400, 'workload must be {apiVersion, kind, namespace, name}');
    const workload: ObjectKey = { apiVersion: w.apiVersion, kind: w.kind, name: w.name, ...(typeof w.namespace === 'string' ? { namespace: w.namespace } : {}) };
    // Only the App's own workloads: a command must not reach beyond what the App manages (its
    // status lists them; reading them live for this would only repeat the page's reads).
    const members = app.status?.objects ?? [];
    if (!members.some((m) => m.kind === workload.kind && m.name === workload.name && (m.namespace ?? '') === (workload.namespace ?? ''))) {
      throw new HttpError(404, `${workload.kind} ${workload.namespace ? `${workload.namespace}/` : ''}${workload.name} is not an object of App ${key}`);
    }
    const perm = await o.backend.commandPermission(workload);
    const verdict = await asking('authorize the command', () => o.auth.authorize(user, { verb: 'patch', ...perm, ...(workload.namespace ? { namespace: workload.namespace } : {}), name: workload.name }));
    if (!verdict.allowed) {
      throw new HttpError(403, `${user.username} may not patch ${perm.resource}${perm.group ? `.${perm.group}` : ''} ${workload.name}${workload.namespace ? ` in ${workload.namespace}` : ''}${verdict.reason ? ` (${verdict.reason})` : ''}`,
        'a release command needs the same RBAC as kgitops approve: patch on the workload');
    }
    const step = action === 'approve' && typeof b.step === 'number' && Number.isInteger(b.step) ? b.step - 1 : undefined;
    let message: string;
    try {
      message = await o.backend.command(key, workload, { action, ...(step !== undefined ? { step } : {}) }, user);
    } catch (e) {
      // Refused by the release (none in progress, not paused) or by the cluster (a webhook, RBAC of the App's ServiceAccount).
      if (e instanceof CommandError) throw new HttpError(409, e.message, e.hint);
      if (e instanceof ApiError) throw new HttpError(e.status === 403 ? 403 : 409, e.message, e.hint);
      throw e;
    }
    o.log.info({ app: key, workload: `${workload.kind} ${workload.namespace ?? ''}/${workload.name}`, action, by: user.username }, `dashboard: ${message}`);
    json(res, 200, { ok: true, message, by: user.username });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://ui');
    const path = url.pathname;
    if (req.method === 'POST' && path === '/api/release-commands') return command(req, res);
    if (req.method === 'POST' && path === '/api/session') {
      const b = (await body(req)) as { token?: unknown };
      const token = typeof b.token === 'string' ? b.token : '';
      if (!token || !(await asking('check the token', () => o.auth.authenticate(token)))) throw new HttpError(401, 'the cluster does not accept this token (TokenReview)');
      res.setHeader('Set-Cookie', `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`);
      return json(res, 200, { ok: true });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not served here`);
    await mayRead(req);
    const fragment = req.headers['x-fragment'] === 'main';
    if (path === '/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.write('retry: 2000\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (path === '/' || path === '/apps') {
      const main = appsMain(o.backend.apps());
      return send(res, 200, 'text/html; charset=utf-8', fragment ? main : page('Apps', main, { simulated: o.backend.simulated, page: 'apps' }));
    }
    if (path === '/api/apps') return json(res, 200, { apps: o.backend.apps().map((a) => ({ namespace: a.metadata.namespace, name: a.metadata.name, status: a.status ?? {} })) });
    const m = /^\/(api\/)?apps\/([^/]+)\/([^/]+)$/.exec(path);
    if (m) {
      const key = `${decodeURIComponent(m[2]!)}/${decodeURIComponent(m[3]!)}`;
      const app = o.backend.app(key);
      if (!app) throw new HttpError(404, `no App ${key}`);
      const d = await o.backend.details(key);
      if (m[1]) return json(res, 200, { app: { metadata: app.metadata, spec: app.spec, status: app.status ?? {} }, ...d });
      const main = appMain(app, d);
      return send(res, 200, 'text/html; charset=utf-8', fragment ? main : page(`App ${key}`, main, { simulated: o.backend.simulated, page: key }));
    }
    throw new HttpError(404, `nothing at ${path}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      const err = e instanceof HttpError ? e : new HttpError(500, (e as Error).message);
      if (!(e instanceof HttpError)) o.log.warn(`dashboard request ${req.method} ${req.url} failed: ${err.message}`);
      if (res.headersSent) { res.end(); return; }
      const wantsHtml = req.method === 'GET' && !(req.url ?? '').startsWith('/api/') && (req.headers.accept ?? '').includes('text/html');
      if (wantsHtml) send(res, err.status, 'text/html; charset=utf-8', page('Error', `<h1>${err.status}</h1><p class="error">${esc(err.message)}</p>${err.hint ? `<p class="note">${esc(err.hint)}</p>` : ''}`, { simulated: o.backend.simulated, page: 'error' }));
      else json(res, err.status, { ok: false, error: err.message, ...(err.hint ? { hint: err.hint } : {}) });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => { server.off('error', reject); resolve(); });
  });
  const a = server.address() as AddressInfo;
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${shown}:${a.port}`,
    close: async () => {
      unsubscribe();
      clearInterval(heartbeat);
      for (const s of streams) s.end();
      streams.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
