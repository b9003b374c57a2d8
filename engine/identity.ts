/**
 * An app's identity: the repo it comes from and its path in that repo. Two apps are the same app
 * exactly when both match, and the identity is recorded on the app's ApplySet parent, so that
 * an engine never uses (and prunes through) the parent of another app.
 *
 * The repo is canonical and credential-free: `https://user:token@GitHub.com/acme/shop.git`,
 * `git@github.com:acme/shop` and `ssh://git@github.com/acme/shop.git` are all
 * `github.com/acme/shop`; a local repo is its absolute, symlink-free path.
 *
 * The default app name (when neither --app nor `app:` names one) is readable and stable:
 * `<repo basename>-<8 hex of sha256(repo, path)>`. Before identities existed it was the repo
 * basename alone, so two repos called `deploy` shared one parent and pruned each other's objects.
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import type { AppSource } from './state.js';

const SCP_LIKE = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/;

/** Whether `repo` is a local path (not a URL, not scp-like `user@host:path`). */
export function isLocalRepo(repo: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) && !/^[^/]+@[^:]+:/.test(repo);
}

/** The canonical, credential-free form of a repo URL or path (see the module comment). */
export function canonicalRepo(repo: string): string {
  if (isLocalRepo(repo)) {
    const abs = resolve(repo);
    try {
      return realpathSync(abs);
    } catch {
      return abs;
    }
  }
  const strip = (p: string) => p.replace(/\/+$/, '').replace(/\.git$/, '').replace(/^\/+/, '');
  const scp = SCP_LIKE.exec(repo);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return `${scp[1].toLowerCase()}/${strip(scp[2])}`;
  try {
    const u = new URL(repo);
    if (u.protocol === 'file:') return decodeURIComponent(u.pathname).replace(/\/+$/, '');
    // host keeps a non-default port; user, password, query and fragment are dropped.
    return `${u.host.toLowerCase()}/${strip(decodeURIComponent(u.pathname))}`;
  } catch {
    return repo.replace(/^[^@]*@/, '');
  }
}

/** The app's directory in the repo, normalized: `./deploy/` is `deploy`, the root is `.`. */
export function canonicalPath(path: string): string {
  const p = posix.normalize(path.replace(/\\/g, '/')).replace(/^\.\/+/, '').replace(/\/+$/, '');
  return p === '' ? '.' : p;
}

export function appSource(repo: string, path: string): AppSource {
  return { repo: canonicalRepo(repo), path: canonicalPath(path) };
}

/** The repo's last path segment as a name part: lower case, [a-z0-9-], at most 40 characters. */
export function repoBasename(repo: string): string {
  const last = canonicalRepo(repo).split('/').filter(Boolean).pop() ?? '';
  const name = last.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
  return name || 'app';
}

/** `<basename>-<8 hex>`: unique per (canonical repo, path), the same on every start. */
export function defaultAppName(repo: string, path: string): string {
  const source = appSource(repo, path);
  const digest = createHash('sha256').update(`${source.repo}\n${source.path}`).digest('hex').slice(0, 8);
  return `${repoBasename(repo)}-${digest}`;
}

/**
 * The name an engine before identities derived: the repo basename alone. Only for migration
 * hints: two repos with the same basename get the same one.
 */
export function legacyAppName(repo: string): string {
  const trimmed = repo.replace(/\.git$/, '').replace(/\/$/, '');
  return (trimmed.split('/').pop() ?? trimmed).toLowerCase().replace(/[^a-z0-9-]+/g, '-');
}

export function sameSource(a: AppSource, b: AppSource): boolean {
  return a.repo === b.repo && a.path === b.path;
}

export function describeSource(s: AppSource): string {
  return `repo ${s.repo}${s.path === '.' ? '' : ` path ${s.path}`}`;
}

/**
 * The ref a commit came through, for people: `branch master (the remote's default branch)`,
 * `branch release`, `tag v1.2.0`, `commit 1a2b3c4d5e6f`.
 */
export function describeRef(r: { ref?: string; defaultBranch?: true }): string {
  const what = !r.ref ? 'commit (no branch)'
    : r.ref.startsWith('refs/heads/') ? `branch ${r.ref.slice('refs/heads/'.length)}`
      : r.ref.startsWith('refs/tags/') ? `tag ${r.ref.slice('refs/tags/'.length)}`
        : /^[0-9a-f]{4,64}$/i.test(r.ref) ? `commit ${r.ref.slice(0, 12)}` : r.ref;
  if (!r.defaultBranch) return what;
  return r.ref ? `${what} (the remote's default branch; no ref configured)` : 'the remote\'s HEAD, detached at a commit (no ref configured)';
}
