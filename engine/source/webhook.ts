/**
 * Push webhooks: GitHub, GitLab and a generic form, so a push triggers a fetch at once instead
 * of at the next poll.
 *
 *   POST /hooks/github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
 *                        X-GitHub-Event: push (202) | ping (200) | anything else (200, ignored)
 *                        X-GitHub-Delivery: <id>                        (replay protection)
 *   POST /hooks/gitlab   X-Gitlab-Token: <secret>
 *                        X-Gitlab-Event: Push Hook | Tag Push Hook (202) | anything else (200, ignored)
 *                        X-Gitlab-Event-UUID: <id>, else Idempotency-Key (replay protection)
 *   POST /hooks/generic  X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
 *                        X-Delivery-Id: <id>, optional                  (replay protection)
 *                        body: JSON { ref?, after? | sha?, repository? } or empty (202)
 *
 * 401 missing, malformed or wrong signature, 400 malformed body or delivery id (1-128 of
 * A-Z a-z 0-9 . _ : -), 404 unknown path, 405 not POST, 413 body over 1 MiB, 408 too slow.
 *
 * The server faces the internet when it is exposed at all, so everyone but the holder of the
 * secret is assumed hostile, and whatever they do costs a bounded amount of memory and time:
 * - It binds 127.0.0.1 unless told otherwise.
 * - What can be judged from the headers is judged before the body is read: a request without
 *   its provider's signature header (or with a malformed one, or a wrong GitLab token), to an
 *   unknown path, with another method or declaring a body over the cap is answered at once with
 *   `Connection: close`, and its socket is destroyed as soon as the answer is flushed, so a slow
 *   sender cannot hold it. `Expect: 100-continue` is answered only once the headers pass.
 * - At most 64 connections are open (more are closed as soon as they are accepted); headers
 *   must arrive within 10 s, the whole request within 15 s, and an idle keep-alive connection is
 *   closed after 5 s. A body is held in memory only for a request that carries a well-formed
 *   signature header, so memory stays below connections × body cap (64 MiB by default), each
 *   for at most the request timeout.
 * - A delivery seen before (same delivery id, or same signature and body) is answered 200
 *   "duplicate" and not reported again: a captured delivery cannot be replayed to make the
 *   engine fetch over and over. Only verified, well-formed deliveries are remembered (an
 *   unsigned request cannot poison the memory), the last 1000 for up to an hour. A generic
 *   sender that triggers with the same body every time must vary it (e.g. a "nonce" field).
 * - Log lines never contain the secret, a signature or the body.
 *
 * Every verified push is reported to onPush, including pushes to other branches than the one
 * the engine follows and branch deletions: the caller decides (pushDecision), because a
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
  /** One line per request; never contains the secret, signatures or the body. */
  readonly log?: (line: string) => void;
  /** Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Open connections at most; more are closed as soon as they are accepted. Default 64. */
  readonly maxConnections?: number;
  readonly timeouts?: {
    /** From the connection (or the previous request) to the end of the headers. Default 10 s. */
    readonly headersMs?: number;
    /** The whole request, body included; at least headersMs. Default 15 s. */
    readonly requestMs?: number;
    /** An idle keep-alive connection. Default 5 s. */
    readonly keepAliveMs?: number;
  };
  readonly replay?: {
    /** Deliveries remembered at most. Default 1000. */
    readonly maxDeliveries?: number;
    /** How long a delivery is remembered. Default 1 hour. */
    readonly windowMs?: number;
  };
  /** Milliseconds since the epoch; for tests of the replay window. */
  readonly now?: () => number;
}

export interface WebhookServer {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  /** Connections open now, idle keep-alive ones included. */
  openConnections(): Promise<number>;
  close(): Promise<void>;
}

export const DEFAULT_WEBHOOK_HOST = '127.0.0.1';
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_CONNECTIONS = 64;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_HEADER_BYTES = 16 * 1024;
const REPLAY_MAX_DELIVERIES = 1000;
const REPLAY_WINDOW_MS = 60 * 60 * 1000;
/** Connections refused over the cap are summed up in one line at most this often. */
const DROP_LOG_INTERVAL_MS = 10_000;

const ROUTES: Record<string, WebhookProvider> = {
  '/hooks/github': 'github',
  '/hooks/gitlab': 'gitlab',
  '/hooks/generic': 'generic',
};
const SIGNATURE_HEADER: Record<WebhookProvider, string> = {
  github: 'X-Hub-Signature-256',
  gitlab: 'X-Gitlab-Token',
  generic: 'X-Signature-256',
};
/** In order of preference: GitLab's event UUID, else its Idempotency-Key. */
const DELIVERY_ID_HEADERS: Record<WebhookProvider, readonly string[]> = {
  github: ['X-GitHub-Delivery'],
  gitlab: ['X-Gitlab-Event-UUID', 'Idempotency-Key'],
  generic: ['X-Delivery-Id'],
};
const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const HMAC_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;
const ZERO_SHA = /^0+$/;
const SHA = /^[0-9a-f]{4,64}$/i;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

type Headers = IncomingHttpHeaders | Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== lower) continue;
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
  const hex = HMAC_SIGNATURE.exec(header(headers, SIGNATURE_HEADER[provider])?.trim() ?? '')?.[1];
  if (!hex) return false;
  const given = Buffer.from(hex, 'hex');
  const expected = createHmac('sha256', key).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Why the headers alone already rule the request out, or undefined when the body is worth
 * reading. A GitLab token is the whole credential, so it is checked here; an HMAC needs the body.
 */
function signatureHeaderProblem(provider: WebhookProvider, headers: Headers, secret: Buffer): string | undefined {
  const name = SIGNATURE_HEADER[provider];
  const value = header(headers, name);
  if (provider === 'gitlab') {
    if (value === undefined) return `missing ${name}: set the webhook's secret token to this engine's webhook secret`;
    if (!verifySignature('gitlab', headers, '', secret)) return `wrong ${name}: the webhook's secret token differs from this engine's webhook secret`;
    return undefined;
  }
  if (value === undefined) return `missing ${name}: sign the body with HMAC-SHA256 and this engine's webhook secret`;
  if (!HMAC_SIGNATURE.test(value.trim())) return `malformed ${name}: expected sha256=<64 hex digits>`;
  return undefined;
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

export type PushDecision = { readonly reconcile: true } | { readonly reconcile: false; readonly reason: string };

/**
 * Whether a verified push should trigger a reconcile of the engine that follows `watchedRef`:
 * only a push that moved the watched ref does. A deletion never does, whichever ref it deleted:
 * there is nothing to apply, and the last applied commit keeps running.
 */
export function pushDecision(event: PushEvent, watchedRef: string): PushDecision {
  const ref = event.ref ?? '(no ref)';
  if (event.deleted) return { reconcile: false, reason: `the push deleted ${ref}; a deletion has nothing to apply, the last applied commit keeps running` };
  if (!pushMatchesRef(event, watchedRef)) return { reconcile: false, reason: `the push was to ${ref}; this engine follows ${watchedRef}` };
  return { reconcile: true };
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Recently seen deliveries, bounded in count and time. Keys are digests or validated ids,
 * never a signature or token in the clear.
 */
class DeliveryMemory {
  /** Insertion order is arrival order, so the oldest entries are always first. */
  private readonly seenAt = new Map<string, number>();

  constructor(private readonly maxKeys: number, private readonly windowMs: number, private readonly now: () => number) {}

  /** The first of `keys` seen within the window, if any. */
  seen(keys: readonly string[]): string | undefined {
    const cutoff = this.now() - this.windowMs;
    for (const [key, at] of this.seenAt) {
      if (at > cutoff) break;
      this.seenAt.delete(key);
    }
    return keys.find((key) => this.seenAt.has(key));
  }

  remember(keys: readonly string[]): void {
    const at = this.now();
    for (const key of keys) if (!this.seenAt.has(key)) this.seenAt.set(key, at);
    for (const key of this.seenAt.keys()) {
      if (this.seenAt.size <= this.maxKeys) break;
      this.seenAt.delete(key);
    }
  }
}

interface Delivery {
  /** The provider's delivery id, when it sent one. */
  readonly id?: string;
  /** The id's key first, so that a repeated id is reported as such. */
  readonly keys: readonly string[];
}

function delivery(provider: WebhookProvider, headers: Headers, body: Buffer): Delivery {
  let id: string | undefined;
  for (const name of DELIVERY_ID_HEADERS[provider]) {
    const value = header(headers, name)?.trim();
    if (value === undefined) continue;
    if (!DELIVERY_ID.test(value)) throw new HttpError(400, `${name} must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`);
    id = value;
    break;
  }
  // For a given secret the HMAC is a function of the body, and a GitLab token is the same for
  // every delivery: the digest stands for "same signature and body" without holding either.
  const content = createHash('sha256').update(provider).update('\0');
  if (provider !== 'gitlab') content.update(header(headers, SIGNATURE_HEADER[provider])?.trim().toLowerCase() ?? '').update('\0');
  const bodyKey = `body:${content.update(body).digest('hex')}`;
  return id !== undefined ? { id, keys: [`id:${provider}:${id}`, bodyKey] } : { keys: [bodyKey] };
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`webhook ${name} must be a positive integer, got ${value}`);
  return value;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const secret = typeof options.secret === 'string' ? Buffer.from(options.secret) : options.secret;
  if (secret.length === 0) throw new TypeError('the webhook secret must not be empty');
  const maxBody = positiveInteger(options.maxBodyBytes, MAX_BODY_BYTES, 'maxBodyBytes');
  const maxConnections = positiveInteger(options.maxConnections, MAX_CONNECTIONS, 'maxConnections');
  const headersMs = positiveInteger(options.timeouts?.headersMs, HEADERS_TIMEOUT_MS, 'timeouts.headersMs');
  const requestMs = positiveInteger(options.timeouts?.requestMs, Math.max(REQUEST_TIMEOUT_MS, headersMs), 'timeouts.requestMs');
  const keepAliveMs = positiveInteger(options.timeouts?.keepAliveMs, KEEP_ALIVE_TIMEOUT_MS, 'timeouts.keepAliveMs');
  if (requestMs < headersMs) throw new TypeError(`webhook timeouts.requestMs (${requestMs}) must be at least timeouts.headersMs (${headersMs})`);
  const now = options.now ?? Date.now;
  // Up to two keys per delivery: its id and its body.
  const memory = new DeliveryMemory(
    2 * positiveInteger(options.replay?.maxDeliveries, REPLAY_MAX_DELIVERIES, 'replay.maxDeliveries'),
    positiveInteger(options.replay?.windowMs, REPLAY_WINDOW_MS, 'replay.windowMs'),
    now,
  );
  const log = (line: string) => options.log?.(line);

  const handle = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const provider = ROUTES[path];
    if (!provider) return refuse(req, res, 404, `no webhook at ${path}; use /hooks/github, /hooks/gitlab or /hooks/generic`);
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return refuse(req, res, 405, `${path} accepts POST only`);
    }
    const from = req.socket.remoteAddress ?? 'unknown';
    const headerProblem = signatureHeaderProblem(provider, req.headers, secret);
    if (headerProblem) {
      log(`${provider}: refused a request from ${from} before its body: ${headerProblem.split(':')[0]}`);
      return refuse(req, res, 401, headerProblem);
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBody) {
      log(`${provider}: refused a request from ${from} declaring a body of ${declared} bytes, over ${maxBody}`);
      return refuse(req, res, 413, `the body is larger than ${maxBody} bytes`);
    }
    if (expectsContinue) res.writeContinue();
    const body = await readBody(req, maxBody);
    if (body === 'aborted') {
      // The sender hung up or was timed out; the socket is gone, nobody is left to answer.
      log(`${provider}: the request from ${from} ended before its body did`);
      return;
    }
    if (body === 'too-large') {
      log(`${provider}: refused a body over ${maxBody} bytes from ${from}`);
      return refuse(req, res, 413, `the body is larger than ${maxBody} bytes`);
    }
    if (!verifySignature(provider, req.headers, body, secret)) {
      log(`${provider}: refused a request from ${from} with a wrong ${SIGNATURE_HEADER[provider]}`);
      return refuse(req, res, 401, `${SIGNATURE_HEADER[provider]} does not match the body: the webhook's secret differs from this engine's webhook secret`);
    }
    let outcome: { status: number; message: string; event?: PushEvent };
    let seen: Delivery;
    try {
      outcome = interpret(provider, req.headers, body);
      seen = delivery(provider, req.headers, body);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      log(`${provider}: ${e.message}`);
      return reply(res, e.status, e.message);
    }
    // No await from here to remember(): two copies of one delivery arriving together cannot
    // both pass the check.
    const seenKey = memory.seen(seen.keys);
    if (seenKey !== undefined) {
      const which = seenKey.startsWith('id:') ? `delivery ${seen.id}` : 'a delivery with the same signature and body';
      log(`${provider}: ignored a duplicate: ${which} was already received`);
      return reply(res, 200, `duplicate: ${which} was already received; ignored`);
    }
    memory.remember(seen.keys);
    reply(res, outcome.status, outcome.message);
    const event = outcome.event;
    if (!event) return;
    log(`${provider}: push ${event.ref ?? '(no ref)'} ${event.deleted ? 'deleted' : event.sha ?? ''}`.trimEnd());
    Promise.resolve()
      .then(() => options.onPush(event))
      .catch((e: unknown) => log(`${provider}: the push handler failed: ${e instanceof Error ? e.message : String(e)}`));
  };

  const serve = (expectsContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, expectsContinue).catch((e: unknown) => {
      log(`webhook: internal error: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.destroy();
    });
  };
  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    // How often the headers and request timeouts are enforced; Node's default (30 s) would
    // let a slow sender overstay them by that much.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersMs / 4))),
  }, serve(false));
  // Without this listener Node answers 100 Continue itself, inviting the body before we have
  // looked at the headers.
  server.on('checkContinue', serve(true));
  server.headersTimeout = headersMs;
  server.requestTimeout = requestMs;
  server.keepAliveTimeout = keepAliveMs;
  server.maxConnections = maxConnections;
  let dropped = 0;
  let droppedLoggedAt = -Infinity;
  server.on('drop', () => {
    dropped++;
    if (now() - droppedLoggedAt < DROP_LOG_INTERVAL_MS) return;
    log(`webhook: closed ${dropped} connection(s) at once: ${maxConnections} were already open (the cap)`);
    dropped = 0;
    droppedLoggedAt = now();
  });

  const host = options.host ?? DEFAULT_WEBHOOK_HOST;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    openConnections: () => new Promise<number>((resolve, reject) => {
      server.getConnections((e, count) => (e ? reject(e) : resolve(count)));
    }),
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
  if (typeof ref === 'string' && CONTROL_CHARACTER.test(ref)) throw new HttpError(400, 'ref must not contain control characters');
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
  const text = `${JSON.stringify({ ok: status < 300, message })}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Answers a request whose body was not (fully) read, and ends the connection once the answer
 * is flushed: keeping it alive would mean reading the rest of the body first, at the sender's pace.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
  const socket = req.socket;
  res.setHeader('Connection', 'close');
  res.once('finish', () => socket.destroy());
  reply(res, status, message);
}

/**
 * The raw body; 'too-large' as soon as it passes `limit` (the rest is not read); 'aborted' when
 * the connection ended first, e.g. closed by the request timeout.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: Buffer | 'too-large' | 'aborted') => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        req.pause();
        settle('too-large');
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => settle(Buffer.concat(chunks, size)));
    // Node emits 'error' on an aborted request only when someone listens; 'close' says it anyway.
    req.on('error', () => settle('aborted'));
    req.on('close', () => settle('aborted'));
  });
}
