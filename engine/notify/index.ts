/**
 * Telling people what an App did: a commit applied, a commit that failed, a release's steps.
 * Three kinds of receiver, each configured per App (spec.notifications):
 *   - webhook: a POST of the event as JSON (an optional bearer token from a Secret);
 *   - slack:   a Slack-compatible incoming webhook (its URL, which is the credential, from a Secret);
 *   - github:  commit statuses (POST /repos/{owner}/{repo}/statuses/{sha}) with a token from a Secret:
 *              `kgitops/<namespace>/<app>` for the commit, and one context per released workload.
 *
 * Sends never block a reconcile: each receiver has its own queue, in order, and a failed send
 * (no answer, 429, 5xx) is retried with exponential backoff; a 4xx other than 429 is logged once
 * and dropped (retrying would fail the same way). Tokens and Slack URLs are never logged.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

export type NotificationEvent =
  | { readonly type: 'applied'; readonly app: string; readonly commit: string; readonly message: string }
  | { readonly type: 'failed'; readonly app: string; readonly commit?: string; readonly message: string }
  | {
    readonly type: 'release'; readonly app: string; readonly commit?: string; readonly workload: string;
    /** ReleaseStarted, ReleaseStepAdvanced, ReleaseCompleted, ReleasePaused, ReleaseAborting, ReleaseAborted, ... */
    readonly reason: string; readonly message: string;
  };

export type EventType = NotificationEvent['type'];

/** A receiver with its credential resolved (from the App's Secrets). */
export type Receiver =
  | { readonly type: 'webhook'; readonly url: string; readonly token?: string; readonly events?: readonly EventType[] }
  | { readonly type: 'slack'; readonly url: string; readonly events?: readonly EventType[] }
  | { readonly type: 'github'; readonly repo: string; readonly token: string; readonly apiUrl: string; readonly events?: readonly EventType[] };

export interface NotifierOptions {
  readonly receivers: readonly Receiver[];
  readonly clock: Clock;
  readonly log: Logger;
  /** First retry after this long, doubling. @default 1 s */
  readonly baseDelayMs?: number;
  /** @default 60 s */
  readonly maxDelayMs?: number;
  /** Attempts in all. @default 6 */
  readonly attempts?: number;
  /** Per request. @default 10 s */
  readonly timeoutMs?: number;
}

interface Request { readonly url: string; readonly headers: Record<string, string>; readonly body: string; readonly what: string }

export class Notifier {
  private readonly queues: Promise<void>[];
  private closed = false;
  /** Sends in flight or waiting (tests wait for them). */
  private pending = 0;
  private idle: (() => void)[] = [];

  constructor(private readonly o: NotifierOptions) {
    this.queues = o.receivers.map(() => Promise.resolve());
  }

  /** Queues the event for every receiver that wants its type. */
  notify(e: NotificationEvent): void {
    if (this.closed) return;
    this.o.receivers.forEach((r, i) => {
      if (r.events && !r.events.includes(e.type)) return;
      const req = requestFor(r, e);
      if (!req) return;
      this.pending++;
      this.queues[i] = this.queues[i]!.then(() => this.send(req)).finally(() => {
        if (--this.pending === 0) for (const f of this.idle.splice(0)) f();
      });
    });
  }

  /** Resolves when every queued send finished (delivered or given up). */
  flushed(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }

  /** Stops retrying; sends in flight finish. */
  close(): void {
    this.closed = true;
  }

  private async send(req: Request): Promise<void> {
    const attempts = this.o.attempts ?? 6;
    for (let attempt = 1; ; attempt++) {
      let status = 0;
      let detail = '';
      try {
        const res = await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body, signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000), redirect: 'error' });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (status >= 200 && status < 300) return;
        detail = `HTTP ${status}`;
      } catch (e) {
        detail = (e as Error).name === 'TimeoutError' ? 'no answer in time' : `cannot reach it (${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message})`;
      }
      const retriable = status === 0 || status === 429 || status >= 500;
      if (!retriable || attempt >= attempts || this.closed) {
        this.o.log.warn({ receiver: req.what }, `notification not delivered: ${detail}${retriable ? ` after ${attempt} attempt(s)` : ' (not retried: the receiver refused it)'}`);
        return;
      }
      const delay = Math.min(this.o.maxDelayMs ?? 60_000, (this.o.baseDelayMs ?? 1_000) * 2 ** (attempt - 1));
      this.o.log.info({ receiver: req.what }, `notification: ${detail}; retrying in ${Math.round(delay / 100) / 10} s`);
      await this.o.clock.sleep(delay);
    }
  }
}

/** What a receiver is called in logs: never its token, nor a Slack URL (the URL is the credential). */
function describeReceiver(r: Receiver): string {
  if (r.type === 'slack') return 'slack';
  if (r.type === 'github') return `github ${r.repo}`;
  try {
    const u = new URL(r.url);
    return `webhook ${u.origin}${u.pathname}`;
  } catch {
    return 'webhook';
  }
}

function requestFor(r: Receiver, e: NotificationEvent): Request | undefined {
  const what = describeReceiver(r);
  const json = { 'Content-Type': 'application/json', 'User-Agent': 'kgitops/0.1.0' };
  switch (r.type) {
    case 'webhook':
      return { url: r.url, what, headers: { ...json, ...(r.token ? { Authorization: `Bearer ${r.token}` } : {}) }, body: JSON.stringify({ ...e, time: new Date().toISOString() }) };
    case 'slack':
      return { url: r.url, what, headers: json, body: JSON.stringify({ text: slackText(e) }) };
    case 'github': {
      if (!e.commit) return undefined; // a status needs a commit
      const status = githubStatus(e);
      if (!status) return undefined;
      return {
        url: `${r.apiUrl.replace(/\/$/, '')}/repos/${r.repo}/statuses/${e.commit}`, what,
        headers: { ...json, Accept: 'application/vnd.github+json', Authorization: `Bearer ${r.token}`, 'X-GitHub-Api-Version': '2022-11-28' },
        body: JSON.stringify(status),
      };
    }
  }
}

function slackText(e: NotificationEvent): string {
  const commit = e.commit ? ` \`${e.commit.slice(0, 12)}\`` : '';
  if (e.type === 'applied') return `:white_check_mark: *${e.app}* applied${commit}: ${e.message}`;
  if (e.type === 'failed') return `:x: *${e.app}* failed${commit}: ${e.message}`;
  const icon = e.reason === 'ReleaseCompleted' ? ':white_check_mark:' : /Abort|Fail/.test(e.reason) ? ':x:' : e.reason === 'ReleasePaused' ? ':double_vertical_bar:' : ':arrow_forward:';
  return `${icon} *${e.app}* ${e.workload}: ${e.message}`;
}

/** GitHub's description field holds at most 140 characters. */
const short = (s: string) => (s.length > 140 ? `${s.slice(0, 139)}…` : s);

function githubStatus(e: NotificationEvent): { state: 'pending' | 'success' | 'failure' | 'error'; context: string; description: string } | undefined {
  const base = `kgitops/${e.app}`;
  if (e.type === 'applied') return { state: 'success', context: base, description: short(e.message) };
  if (e.type === 'failed') return { state: 'failure', context: base, description: short(e.message) };
  const context = `${base}/release/${e.workload.split(' ').pop()}`;
  if (e.reason === 'ReleaseCompleted') return { state: 'success', context, description: short(e.message) };
  if (/Abort|Fail/.test(e.reason)) return { state: 'failure', context, description: short(e.message) };
  return { state: 'pending', context, description: short(e.message) };
}

/** `owner/name` of a GitHub repo URL (https, ssh or scp form); undefined for any other host. */
export function githubRepoOf(url: string): string | undefined {
  const m = /^(?:https?:\/\/(?:[^@/]+@)?github\.com\/|ssh:\/\/git@github\.com\/|git@github\.com:)([\w.-]+\/[\w.-]+?)(?:\.git)?\/?$/.exec(url);
  return m?.[1];
}
