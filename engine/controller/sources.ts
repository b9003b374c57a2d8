/**
 * The controller's git sources: one mirror per repo URL, shared by every App of that repo (the
 * mirror directory is keyed by the URL, and GitSource serializes commands on it), so a monorepo
 * of many Apps is cloned once. Each App gets a Source for its ref.
 */
import { GitSource, type GitAuth } from '../source/git.js';
import { redactUrl } from '../log.js';
import type { Source } from '../reconciler.js';

export interface FollowingSource extends Source {
  /** The configured ref, or the default branch the last fetch found. */
  followedRef(): string | undefined;
  /** Paths a diff between two commits touches (engine/source/affects.ts decides what they mean for an App). */
  changedPaths(from: string, to: string): Promise<string[]>;
}

/**
 * One fetch serves every App of a repo: a fetch is reused while it is fresh (started less than
 * `maxAgeMs` ago and after the repo's last push webhook), and Apps asking while one runs wait for
 * it. A push invalidates the repo (invalidate()), so the first App it wakes fetches again and
 * the others reuse that fetch: one fetch per push, however many Apps the repo holds.
 */
interface RepoFetch {
  /** When the last fetch started (ms, the clock of this process). */
  startedAt: number;
  ok: boolean;
  running?: Promise<void>;
  invalidatedAt: number;
}

export class RepoSources {
  private readonly byKey = new Map<string, GitSource>();
  private readonly repos = new Map<string, RepoFetch>();
  private fetchCount = 0;

  constructor(private readonly o: { cacheDir: string; log?: (line: string) => void; maxAgeMs?: number }) {}

  /** A push to the repo at `url` (or every repo): the next App of it fetches again. */
  invalidate(url?: string): void {
    const now = performance.now();
    for (const [u, f] of this.repos) if (url === undefined || u.startsWith(`${url}\n`)) f.invalidatedAt = now;
  }

  /** Fetches the repo unless a fresh fetch (see RepoFetch) has already done it or is under way. */
  private async shared(url: string, git: GitSource, notBefore?: number): Promise<void> {
    let f = this.repos.get(url);
    if (!f) {
      f = { startedAt: -Infinity, ok: false, invalidatedAt: -Infinity };
      this.repos.set(url, f);
    }
    // Asked for a reconcile at `notBefore` (a push, a changed App): only a fetch that started since then knows what it asks about.
    const fresh = () => f!.ok && f!.startedAt > f!.invalidatedAt
      && (notBefore !== undefined ? f!.startedAt >= notBefore : performance.now() - f!.startedAt < (this.o.maxAgeMs ?? 10_000));
    if (f.running) await f.running.catch(() => {});
    if (fresh()) return;
    if (!f.running) {
      const fetch = f;
      fetch.startedAt = performance.now();
      this.fetchCount++;
      fetch.running = git.fetchAll().then(() => { fetch.ok = true; }, (e) => { fetch.ok = false; throw e; }).finally(() => { fetch.running = undefined; });
    }
    await f.running;
  }

  /** Git fetches run so far. */
  get fetches(): number {
    return this.fetchCount;
  }

  /** @param authKey distinguishes credentials (sources with other credentials never share a GitSource) */
  /** @param notBefore when the App's reconcile was asked for (performance.now()), read at each fetch */
  source(s: { url: string; ref?: string; auth?: GitAuth; authKey?: string; notBefore?: () => number | undefined }): FollowingSource {
    const key = `${s.url}\n${s.ref ?? ''}\n${s.authKey ?? ''}`;
    let git = this.byKey.get(key);
    if (!git) {
      git = new GitSource({ url: s.url, ref: s.ref, cacheDir: this.o.cacheDir, ...(s.auth ? { auth: s.auth } : {}), ...(this.o.log ? { log: this.o.log } : {}) });
      this.byKey.set(key, git);
    }
    const g = git;
    let defaultBranch: string | undefined;
    return {
      describe: () => `${redactUrl(s.url)}@${s.ref ?? defaultBranch ?? 'HEAD (default branch)'}`,
      fetch: async () => {
        // A ref outside heads and tags (refs/pull/1/head) is fetched by its own source.
        const own = s.ref?.startsWith('refs/') && !s.ref.startsWith('refs/heads/') && !s.ref.startsWith('refs/tags/');
        if (own) this.fetchCount++;
        else await this.shared(`${s.url}\n${s.authKey ?? ''}`, g, s.notBefore?.());
        const revision = await g.fetch({ fetched: !own });
        if (revision.defaultBranch) defaultBranch = revision.refName ?? undefined;
        return revision;
      },
      followedRef: () => s.ref ?? defaultBranch,
      checkout: (sha) => g.checkout(sha),
      isAncestor: (a, b) => g.isAncestor(a, b),
      history: g,
      changedPaths: (a, b) => g.changedPaths(a, b),
    };
  }
}
