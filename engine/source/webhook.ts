/**
 * Push webhooks: GitHub, GitLab and a generic form, so a push triggers a fetch at once instead
 * of at the next poll.
 *
 *   POST /hooks/github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
 *                        X-GitHub-Event: push (202) | ping (200) | anything else (200, ignored)
 *   POST /hooks/gitlab   X-Gitlab-Token: <secret>
 *                        X-Gitlab-Event: Push Hook | Tag Push Hook (202) | anything else (200, ignored)
 *   POST /hooks/generic  X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
 *                        body: JSON { ref?, after? | sha?, repository? } or empty (202)
 *
 * 401 bad or missing signature, 400 malformed body, 404 unknown path, 405 not POST, 413 body over
 * 1 MiB. Signatures are checked before the body is parsed, in constant time.
 *
 * Every verified push is reported to onPush, including pushes to other branches than the one
 * the engine follows and branch deletions: the caller decides (pushMatchesRef helps), because a
 * webhook is shared by all refs of a repository and the receiver knows which ref it watches.
 * onPush is called after the response is sent; its errors are logged, never returned.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';

export type WebhookProvider = 'github' | 'gitlab' | 'generic';

export interface PushEvent {
  readonly provider: WebhookProvider;
  /** Full ref name as the provider sends it, e.g. refs/heads/main or refs/tags/v1. */
  readonly ref?: string;
  /** The commit the ref now points at; absent when the push deleted the ref. */
  readonly sha?: string;
  /** e.g. org/shop */
  readonly repository?: string;
  /** The push deleted the ref. */
  readonly deleted?: boolean;
}

export interface WebhookServerOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1; use 0.0.0.0 to accept from outside the host (in a cluster). */
  readonly host?: string;
  /** Shared with the git hosting service. Required: an unauthenticated trigger is refused. */
  readonly secret: string | Buffer;
  readonly onPush: (event: PushEvent) => void | Promise<void>;
  /** One line per request; never contains the secret or signatures. */
  readonly log?: (line: string) => void;
  /** Default 1 MiB. */
  readonly maxBodyBytes?: number;
}

export interface WebhookServer {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export const MAX_BODY_BYTES = 1024 * 1024;
const ROUTES: Record<string, WebhookProvider> = {
  '/hooks/github': 'github',
  '/hooks/gitlab': 'gitlab',
  '/hooks/generic': 'generic',
};
const HMAC_HEADER: Record<Exclude<WebhookProvider, 'gitlab'>, string> = {
  github: 'x-hub-signature-256',
  generic: 'x-signature-256',
};
const ZERO_SHA = /^0+$/;
const SHA = /^[0-9a-f]{4,64}$/i;

type Headers = IncomingHttpHeaders | Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    // A repeated signature header is ambiguous: treat it as missing.
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

/**
 * Whether the request carries a valid signature for `secret`. Never throws: a missing,
 * malformed or wrong-length header is simply not valid.
 */
export function verifySignature(provider: WebhookProvider, headers: Headers, rawBody: Buffer | string, secret: string | Buffer): boolean {
  const key = typeof secret === 'string' ? Buffer.from(secret) : secret;
  if (key.length === 0) return false;
  if (provider === 'gitlab') {
    const token = header(headers, 'x-gitlab-token');
    if (token === undefined) return false;
    // Digests have equal length whatever the token's: no length leak, timingSafeEqual cannot throw.
    const given = createHash('sha256').update(token).digest();
    const expected = createHash('sha256').update(key).digest();
    return timingSafeEqual(given, expected);
  }
  const value = header(headers, HMAC_HEADER[provider])?.trim();
  const hex = value && /^sha256=([0-9a-fA-F]{64})$/.exec(value)?.[1];
  if (!hex) return false;
  const given = Buffer.from(hex, 'hex');
  const expected = createHmac('sha256', key).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Whether a push concerns the watched ref (a branch or tag name, a full ref, or a SHA). A push
 * without a ref (generic form) matches: fetching is the safe answer. A pinned SHA never moves.
 */
export function pushMatchesRef(event: PushEvent, watchedRef: string): boolean {
  if (!event.ref) return true;
  if (watchedRef.startsWith('refs/')) return event.ref === watchedRef;
  return event.ref === `refs/heads/${watchedRef}` || event.ref === `refs/tags/${watchedRef}` || event.ref === watchedRef;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const secret = typeof options.secret === 'string' ? Buffer.from(options.secret) : options.secret;
  if (secret.length === 0) throw new TypeError('the webhook secret must not be empty');
  const maxBody = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const log = (line: string) => options.log?.(line);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const provider = ROUTES[path];
    if (!provider) return reply(res, 404, `no webhook at ${path}; use /hooks/github, /hooks/gitlab or /hooks/generic`);
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return reply(res, 405, `${path} accepts POST only`);
    }
    const body = await readBody(req, maxBody);
    if (body === 'too-large') {
      log(`${provider}: rejected a body over ${maxBody} bytes`);
      res.setHeader('Connection', 'close');
      return reply(res, 413, `the body is larger than ${maxBody} bytes`);
    }
    if (!verifySignature(provider, req.headers, body, secret)) {
      log(`${provider}: rejected a request with a missing or wrong signature from ${req.socket.remoteAddress ?? 'unknown'}`);
      return reply(res, 401, provider === 'gitlab' ? 'missing or wrong X-Gitlab-Token' : `missing or wrong ${provider === 'github' ? 'X-Hub-Signature-256' : 'X-Signature-256'}`);
    }
    let outcome: { status: number; message: string; event?: PushEvent };
    try {
      outcome = interpret(provider, req.headers, body);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      log(`${provider}: ${e.message}`);
      return reply(res, e.status, e.message);
    }
    reply(res, outcome.status, outcome.message);
    const event = outcome.event;
    if (!event) return;
    log(`${provider}: push ${event.ref ?? '(no ref)'} ${event.deleted ? 'deleted' : event.sha ?? ''}`.trimEnd());
    Promise.resolve()
      .then(() => options.onPush(event))
      .catch((e: unknown) => log(`${provider}: the push handler failed: ${e instanceof Error ? e.message : String(e)}`));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log(`webhook: internal error: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.destroy();
    });
  });
  // A webhook is one small request: a slow sender is not waited for.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((e) => (e ? reject(e) : resolve()));
      server.closeAllConnections();
    }),
  };
}

function interpret(provider: WebhookProvider, headers: IncomingHttpHeaders, body: Buffer): { status: number; message: string; event?: PushEvent } {
  if (provider === 'github') {
    const kind = header(headers, 'x-github-event');
    if (!kind) throw new HttpError(400, 'missing X-GitHub-Event');
    if (kind === 'ping') return { status: 200, message: 'pong' };
    if (kind !== 'push') return { status: 200, message: `ignored the ${kind} event` };
    const payload = parseObject(githubPayload(headers, body));
    return accepted(pushEvent('github', payload.ref, payload.after, repositoryName(payload.repository, 'full_name'), payload.deleted === true));
  }
  if (provider === 'gitlab') {
    const kind = header(headers, 'x-gitlab-event');
    if (!kind) throw new HttpError(400, 'missing X-Gitlab-Event');
    if (kind !== 'Push Hook' && kind !== 'Tag Push Hook') return { status: 200, message: `ignored the ${kind} event` };
    const payload = parseObject(body.toString('utf8'));
    const project = repositoryName(payload.project, 'path_with_namespace');
    return accepted(pushEvent('gitlab', payload.ref, payload.after ?? payload.checkout_sha, project, false));
  }
  const text = body.toString('utf8').trim();
  const payload = text === '' ? {} : parseObject(text);
  const repository = typeof payload.repository === 'string' ? payload.repository : undefined;
  return accepted(pushEvent('generic', payload.ref, payload.after ?? payload.sha, repository, false));
}

function accepted(event: PushEvent): { status: number; message: string; event: PushEvent } {
  return { status: 202, message: 'push accepted', event };
}

/** GitHub sends JSON, or a form with the JSON in `payload` when configured so. */
function githubPayload(headers: IncomingHttpHeaders, body: Buffer): string {
  const type = header(headers, 'content-type') ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const payload = new URLSearchParams(body.toString('utf8')).get('payload');
    if (payload === null) throw new HttpError(400, 'the form body has no payload field');
    return payload;
  }
  return body.toString('utf8');
}

function parseObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

function repositoryName(value: unknown, field: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const name = (value as Record<string, unknown>)[field];
  return typeof name === 'string' ? name : undefined;
}

function pushEvent(provider: WebhookProvider, ref: unknown, sha: unknown, repository: string | undefined, deletedFlag: boolean): PushEvent {
  if (ref !== undefined && (typeof ref !== 'string' || ref === '')) throw new HttpError(400, 'ref must be a non-empty string');
  if (sha !== undefined && sha !== null && (typeof sha !== 'string' || !SHA.test(sha))) throw new HttpError(400, 'the commit (after/sha) must be a hex SHA');
  const deleted = deletedFlag || (typeof sha === 'string' && ZERO_SHA.test(sha));
  return {
    provider,
    ...(ref !== undefined ? { ref } : {}),
    ...(typeof sha === 'string' && !deleted ? { sha: sha.toLowerCase() } : {}),
    ...(repository !== undefined ? { repository } : {}),
    ...(deleted ? { deleted: true } : {}),
  };
}

function reply(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify({ ok: status < 300, message })}\n`);
}

/**
 * The raw body, or 'too-large'. An oversized body is still read (and dropped) up to a bound,
 * so the sender gets the 413 instead of a reset connection; beyond it we stop reading.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const drainLimit = limit * 4;
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > drainLimit) {
      resolve('too-large');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        if (size > drainLimit) {
          req.removeAllListeners('data');
          req.pause();
          resolve('too-large');
        }
      } else if (!over) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
