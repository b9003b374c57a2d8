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
}

export class RepoSources {
  private readonly byKey = new Map<string, GitSource>();
  private fetchCount = 0;

  constructor(private readonly o: { cacheDir: string; log?: (line: string) => void }) {}

  /** Git fetches run so far. */
  get fetches(): number {
    return this.fetchCount;
  }

  /** @param authKey distinguishes credentials (sources with other credentials never share a GitSource) */
  source(s: { url: string; ref?: string; auth?: GitAuth; authKey?: string }): FollowingSource {
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
        this.fetchCount++;
        const revision = await g.fetch();
        if (revision.defaultBranch) defaultBranch = revision.refName ?? undefined;
        return revision;
      },
      followedRef: () => s.ref ?? defaultBranch,
      checkout: (sha) => g.checkout(sha),
      isAncestor: (a, b) => g.isAncestor(a, b),
      history: g,
    };
  }
}
