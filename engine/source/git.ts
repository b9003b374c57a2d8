/**
 * GitSource: one repository and ref, mirrored under a cache directory.
 *
 * Layout under `cacheDir/<sha256 of the credential-free URL>/`:
 *   mirror.git/          bare mirror: refs/heads/* and refs/tags/* as on the remote
 *   checkouts/<sha>/     one detached worktree per commit, never moved once made
 *   checkouts/<sha>.ready  written last: a checkout without it is half-made and is redone
 *   url                  the redacted URL, for people looking at the cache
 *
 * All operations on one mirror run one at a time (in this process; two processes must not share
 * a cacheDir). Each public call has a deadline (timeoutMs); when it passes, git and its transport
 * helpers are ended and SourceError('timeout') is thrown.
 *
 * Git runs with hooks, fsmonitor, filters, system and global configuration off and only the
 * remote's transport allowed (git-env.ts). Before each call the mirror's own configuration is
 * compared with what the engine wrote (mirror.ts); a mirror that differs is recreated, with its
 * checkouts, and says so in the log.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, posix, resolve as resolvePath } from 'node:path';
import { GitError, GitPluginError, simpleGit } from 'simple-git';
import { classifyGitFailure, SourceError } from './errors.js';
import { basicAuthHeader, buildGitEnv, type GitProtocol, isGuardedEnvKey, sshCommand } from './git-env.js';
import { findTampering, writeMirrorFiles } from './mirror.js';
import { endProcesses, processTreeUnder, type ProcessRef } from './processes.js';
import { parseGitUrl, redact, type GitUrl } from './url.js';

export const DEFAULT_TOKEN_ENV = 'KGITOPS_GIT_TOKEN';
export const DEFAULT_USERNAME_ENV = 'KGITOPS_GIT_USERNAME';
export const DEFAULT_USERNAME = 'x-access-token';
export const DEFAULT_TIMEOUT_MS = 60_000;

/** http(s): a token sent as Basic auth (username:token). */
export interface TokenAuth {
  readonly type?: 'token';
  /** The token itself; otherwise read from `tokenEnv`. */
  readonly token?: string;
  readonly username?: string;
  /** default KGITOPS_GIT_TOKEN */
  readonly tokenEnv?: string;
  /** default KGITOPS_GIT_USERNAME (its default value: x-access-token) */
  readonly usernameEnv?: string;
}

/** ssh: a private key and the known_hosts file that must list the server. */
export interface SshAuth {
  readonly type: 'ssh';
  readonly keyFile?: string;
  readonly knownHostsFile?: string;
}

export type GitAuth = TokenAuth | SshAuth;

export interface GitSourceOptions {
  /** Local path, file://, https://, http://, ssh:// or git@host:org/repo.git */
  readonly url: string;
  /**
   * Branch, tag, full ref name (refs/...) or commit SHA (full or abbreviated). Unset: the
   * remote's default branch (its HEAD), looked up on every fetch, as Argo CD's `HEAD` does.
   */
  readonly ref?: string;
  readonly cacheDir: string;
  /** For http(s) the token is read from KGITOPS_GIT_TOKEN when this is omitted. */
  readonly auth?: GitAuth;
  /** Deadline of each fetch/checkout/isAncestor/prune call. Default 60 s. */
  readonly timeoutMs?: number;
  /** Where token variables are read from. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Progress and repair notes; already redacted. */
  readonly log?: (line: string) => void;
}

export interface Revision {
  /** Full commit SHA. */
  readonly sha: string;
  /** The ref as configured, or `HEAD` when none was (the remote's default branch). */
  readonly ref: string;
  /** The full ref it resolved through (refs/heads/main, refs/tags/v1), or null for a SHA (or a detached HEAD). */
  readonly refName: string | null;
  /** Set when no ref was configured: refName is the remote's default branch, as its HEAD says now. */
  readonly defaultBranch?: true;
  /** First line of the commit message. */
  readonly message: string;
  /** "Name <email>" */
  readonly author: string;
  /** Committer time, ISO 8601 UTC. */
  readonly time: string;
}

export interface Worktree {
  /** Absolute directory holding the files of `sha`. Treat it as read-only. */
  readonly dir: string;
  readonly sha: string;
  remove(): Promise<void>;
}

export interface CallOptions {
  /** Cancels the call (its git processes are ended); rejects with an AbortError. */
  readonly signal?: AbortSignal;
}

/** One path of a commit as git stores it. Only a regular file's content is ever read. */
export interface CommitFile {
  /** git's mode: 100644/100755 file, 120000 symlink, 040000 directory, 160000 submodule. */
  readonly mode: string;
  readonly kind: 'file' | 'symlink' | 'directory' | 'submodule';
  /** The blob's text; regular files only (a symlink's target is never read). */
  readonly content?: string;
}

/** One line of `git blame --line-porcelain`: the commit it comes from and where it was there. */
export interface BlameLine {
  /** Line number in the blamed commit's file (1-based). */
  readonly line: number;
  readonly commit: string;
  /** Its line number in `commit`'s version of the file. */
  readonly originalLine: number;
  /** The file's path in `commit` (differs after a rename). */
  readonly originalPath: string;
  /** "Name <email>" of the commit's author, for messages. */
  readonly author: string;
}

/**
 * git's verdict on a commit's signature (%G?): G good and trusted, B bad, U good but the key is
 * not trusted (not an allowed signer), X good but expired, Y good by an expired key, R good by a
 * revoked key, E cannot be checked (e.g. the key is unknown), N no signature.
 */
export type SignatureStatus = 'G' | 'B' | 'U' | 'X' | 'Y' | 'R' | 'E' | 'N';

export interface CommitSignature {
  readonly commit: string;
  readonly status: SignatureStatus;
  /** %GS: the principal (ssh, from the allowed-signers file) or the key's user id (gpg). */
  readonly signer: string;
  /** %GP or else %GF: the primary key's fingerprint (gpg), the key's fingerprint (ssh). */
  readonly fingerprint: string;
}

/** Whom signature checks trust: kept outside the repository, prepared by the caller. */
export interface SignatureTrust {
  /** gpg.ssh.allowedSignersFile; /dev/null trusts no ssh key. */
  readonly sshAllowedSignersFile: string;
  /** A gpg home holding only the allowed keys (never the user's ~/.gnupg). */
  readonly gnupgHome: string;
}

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const SIGNATURE_STATUSES = new Set<string>(['G', 'B', 'U', 'X', 'Y', 'R', 'E', 'N']);
const TRANSPORT_PROTOCOLS: Record<GitUrl['transport'], GitProtocol[]> = {
  local: ['file'], file: ['file'], https: ['https'], ssh: ['ssh'], git: ['git'],
  // A server that upgrades http to https is followed; never the other way round.
  http: ['http', 'https'],
};
const HEX_PREFIX = /^[0-9a-f]{4,64}$/i;
const STALE_LOCK_MS = 60_000;
const READY_SUFFIX = '.ready';

/**
 * A git command that exited non-zero. Internal: public methods turn it into a SourceError.
 * Extends simple-git's GitError because simple-git wraps any other error type in one.
 */
class GitExit extends GitError {
  constructor(readonly code: number, readonly stderr: string) {
    super(undefined, `git exited with ${code}`);
  }
}

class Cancelled extends Error {
  constructor(readonly timedOut: boolean) {
    super(timedOut ? 'timed out' : 'cancelled');
  }
}

/**
 * Per-call deadline and cancellation. simple-git interrupts git on abort; we first note git's
 * process tree so the helpers it leaves behind can be ended too (see processes.ts).
 */
class Deadline {
  readonly controller = new AbortController();
  timedOut = false;
  private stragglers: ProcessRef[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort = () => this.stop(false);

  constructor(private readonly processDir: string, timeoutMs: number, private readonly caller?: AbortSignal) {
    this.timer = setTimeout(() => this.stop(true), timeoutMs);
    if (caller?.aborted) this.stop(false);
    else caller?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private stop(timedOut: boolean): void {
    if (this.controller.signal.aborted) return;
    this.timedOut = timedOut;
    this.stragglers = processTreeUnder(this.processDir);
    this.controller.abort();
  }

  /** Ends the helpers of the interrupted command; git itself has exited by now. */
  reap(): void {
    if (this.stragglers.length) endProcesses(this.stragglers, 'SIGKILL');
    this.stragglers = [];
  }

  finish(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

// One queue per mirror directory, shared by every GitSource of this process.
const queues = new Map<string, Promise<unknown>>();

function exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(fn);
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => { if (queues.get(key) === tail) queues.delete(key); });
  return run;
}

/** Git's rules for ref names (check-ref-format), enough to refuse typos and option injection. */
export function validateRef(ref: string): string | undefined {
  if (!ref) return 'it is empty';
  if (ref.startsWith('-')) return 'it starts with a dash';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) return 'it contains a space or one of ~ ^ : ? * [ \\';
  if (ref.includes('..') || ref.includes('@{') || ref.includes('//')) return "it contains '..', '@{' or '//'";
  if (ref === '@' || ref.endsWith('/') || ref.endsWith('.') || ref.endsWith('.lock')) return "it ends with '/', '.' or '.lock'";
  if (ref.split('/').some((part) => part.startsWith('.'))) return "a component starts with '.'";
  return undefined;
}

export class GitSource {
  /** The credential-free URL, safe to print. */
  readonly url: string;
  /** The ref as configured; undefined: the remote's default branch. */
  readonly ref: string | undefined;
  /** sha256 of `url`: the mirror's directory name. */
  readonly cacheKey: string;
  readonly mirrorDir: string;
  readonly checkoutsDir: string;

  private readonly remote: GitUrl;
  private readonly root: string;
  private readonly timeoutMs: number;
  private readonly auth?: GitAuth;
  private readonly lookupEnv: NodeJS.ProcessEnv;
  private readonly logLine?: (line: string) => void;

  constructor(options: GitSourceOptions) {
    this.remote = parseGitUrl(options.url);
    this.url = this.remote.url;
    this.ref = options.ref;
    const bad = this.ref === undefined ? undefined : validateRef(this.ref);
    if (bad) {
      throw new SourceError('ref-not-found', `ref '${this.ref}' is not a valid git ref name: ${bad}; set ref to a branch, tag or commit SHA`,
        { url: this.url, hint: 'set ref to a branch, tag or commit SHA' });
    }
    this.auth = options.auth;
    if (this.auth?.type === 'ssh' && this.remote.transport !== 'ssh') {
      throw new SourceError('invalid-url', `an ssh key is configured but ${this.url} is not an ssh address; use ssh://… or git@host:org/repo.git`,
        { url: this.url, hint: 'use an ssh:// or git@host:path URL with ssh auth' });
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.lookupEnv = options.env ?? process.env;
    this.logLine = options.log;
    this.cacheKey = this.remote.key;
    mkdirSync(options.cacheDir, { recursive: true });
    // Real path: processes are matched by /proc/<pid>/cwd, which is always resolved.
    this.root = join(realpathSync(resolvePath(options.cacheDir)), this.cacheKey);
    this.mirrorDir = join(this.root, 'mirror.git');
    this.checkoutsDir = join(this.root, 'checkouts');
  }

  /** Fetches the remote into the mirror and resolves the ref to a commit. */
  fetch(options: CallOptions & { /** The mirror was fetched just now (RepoSources): only resolve the ref. */ fetched?: boolean } = {}): Promise<Revision> {
    return this.call('fetch', options, async (deadline) => {
      await this.ensureMirror(deadline);
      const configured = this.ref;
      if (options.fetched) {
        if (configured === undefined) return this.resolveDefaultBranch(deadline);
        const ref = configured.toLowerCase();
        if (FULL_SHA.test(ref) && (await this.hasCommit(deadline, ref))) return { ...(await this.describe(deadline, ref)), ref: configured, refName: null };
        return this.resolve(deadline, configured);
      }
      if (configured === undefined) {
        await this.fetchRefs(deadline);
        return this.resolveDefaultBranch(deadline);
      }
      const ref = configured.toLowerCase();
      // A full SHA names immutable content: when the mirror has it, there is nothing to fetch.
      if (FULL_SHA.test(ref) && (await this.hasCommit(deadline, ref))) {
        return { ...(await this.describe(deadline, ref)), ref: configured, refName: null };
      }
      await this.fetchRefs(deadline);
      return this.resolve(deadline, configured);
    });
  }

  /** A worktree of its own holding the files of `sha`; reused when an intact one exists. */
  checkout(sha: string, options: CallOptions = {}): Promise<Worktree> {
    return this.call('checkout', options, async (deadline) => {
      await this.repairIfTampered(deadline);
      if (!HEX_PREFIX.test(sha)) {
        throw new SourceError('ref-not-found', `'${sha}' is not a commit SHA; pass the sha of a Revision from fetch()`, { url: this.url });
      }
      const full = FULL_SHA.test(sha.toLowerCase()) ? sha.toLowerCase() : await this.expandSha(deadline, sha);
      const dir = join(this.checkoutsDir, full);
      if (await this.isIntact(deadline, dir, full)) return this.worktree(dir, full);
      await this.makeCheckout(deadline, dir, full);
      return this.worktree(dir, full);
    });
  }

  /** True when `older` is in the history of `newer`; false after a history rewrite. */
  isAncestor(older: string, newer: string, options: CallOptions = {}): Promise<boolean> {
    return this.call('isAncestor', options, async (deadline) => {
      await this.repairIfTampered(deadline);
      for (const sha of [older, newer]) {
        if (!HEX_PREFIX.test(sha)) throw new SourceError('ref-not-found', `'${sha}' is not a commit SHA`, { url: this.url });
      }
      try {
        // `older` is an ancestor of `newer` exactly when it is their merge base. (Not
        // --is-ancestor, which prints nothing: see runGit about silent commands.)
        const base = (await this.git(deadline, this.mirrorDir, ['merge-base', older, newer])).trim();
        const olderFull = FULL_SHA.test(older.toLowerCase()) ? older.toLowerCase() : await this.expandSha(deadline, older);
        return base === olderFull;
      } catch (e) {
        if (!(e instanceof GitExit)) throw e;
        if (e.code === 1) return false;
        if (!(await this.hasCommit(deadline, newer))) {
          throw new SourceError('ref-not-found', `commit ${newer} is not in the mirror of ${this.url}; call fetch() first`, { url: this.url });
        }
        // `older` is unknown: gone with a rewritten history (or never fetched), so not an ancestor.
        return false;
      }
    });
  }

  /** Fetches the remote's branches and tags into the mirror, and resolves nothing (one fetch for every ref of a repo). */
  fetchAll(options: CallOptions = {}): Promise<void> {
    return this.call('fetch', options, async (deadline) => {
      await this.ensureMirror(deadline);
      await this.fetchRefs(deadline);
    });
  }

  /**
   * The repo-relative paths a diff between two commits touches (a rename: both paths), so that
   * an app that depends on none of them need not be rendered again. NUL-separated output: a
   * path with a newline or a quote is read as it is.
   */
  changedPaths(from: string, to: string, options: CallOptions = {}): Promise<string[]> {
    return this.call('changedPaths', options, async (deadline) => {
      await this.repairIfTampered(deadline);
      for (const sha of [from, to]) {
        if (!HEX_PREFIX.test(sha)) throw new SourceError('ref-not-found', `'${sha}' is not a commit SHA`, { url: this.url });
      }
      const out = await this.git(deadline, this.mirrorDir, ['diff', '--name-only', '-z', '--no-renames', '--no-ext-diff', '--no-textconv', from, to, '--']);
      return out.split('\0').filter(Boolean);
    });
  }

  /** Removes every checkout except those of `keepShas` (full or abbreviated); returns the removed SHAs. */
  prune(keepShas: readonly string[], options: CallOptions = {}): Promise<string[]> {
    return this.call('prune', options, async (deadline) => {
      await this.repairIfTampered(deadline);
      const keep = keepShas.map((s) => s.toLowerCase());
      const kept = (sha: string) => keep.some((k) => k.length >= 4 && sha.startsWith(k));
      let names: string[];
      try { names = await readdir(this.checkoutsDir); } catch { return []; }
      const removed = new Set<string>();
      for (const name of names) {
        const sha = name.endsWith(READY_SUFFIX) ? name.slice(0, -READY_SUFFIX.length) : name;
        if (FULL_SHA.test(sha) && kept(sha)) continue;
        await this.discardCheckout(join(this.checkoutsDir, sha));
        if (FULL_SHA.test(sha)) removed.add(sha);
      }
      if (existsSync(this.mirrorDir)) await this.git(deadline, this.mirrorDir, ['worktree', 'prune']);
      return [...removed];
    });
  }

  /**
   * A path of commit `sha` as git stores it, read from the mirror's objects (never from a
   * checkout, whose files code may have changed); undefined when the commit has no such path.
   * Symlinks are reported as such and never followed.
   */
  readFile(sha: string, path: string, options: CallOptions = {}): Promise<CommitFile | undefined> {
    return this.call('read', options, async (deadline) => {
      await this.repairIfTampered(deadline);
      const full = await this.commitOf(deadline, sha);
      const out = await this.git(deadline, this.mirrorDir, ['ls-tree', '-z', '--full-tree', full, '--', repoPath(path)]);
      const entry = /^(\d{6}) (\w+) ([0-9a-f]+)\t/.exec(out);
      if (!entry) return undefined;
      const [, mode, , oid] = entry;
      const kind = mode === '120000' ? 'symlink' : mode === '040000' ? 'directory' : mode === '160000' ? 'submodule' : 'file';
      if (kind !== 'file') return { mode: mode!, kind };
      return { mode: mode!, kind, content: await this.git(deadline, this.mirrorDir, ['cat-file', 'blob', oid!]) };
    });
  }

  /** `git blame` of a file of commit `sha`, line by line (merges followed; no ignore-revs file). */
  blame(sha: string, path: string, options: CallOptions = {}): Promise<BlameLine[]> {
    return this.call('blame', options, async (deadline) => {
      await this.repairIfTampered(deadline);
      const full = await this.commitOf(deadline, sha);
      const out = await this.git(deadline, this.mirrorDir, ['blame', '--line-porcelain', full, '--', repoPath(path)]);
      return parseLinePorcelain(out);
    });
  }

  /**
   * git's own verdict on each commit's signature, checked against `trust` only: the allowed ssh
   * signers and a gpg home of allowed keys. Signatures are never parsed here.
   */
  signatures(shas: readonly string[], trust: SignatureTrust, options: CallOptions = {}): Promise<Map<string, CommitSignature>> {
    return this.call('signature check', options, async (deadline) => {
      await this.repairIfTampered(deadline);
      const result = new Map<string, CommitSignature>();
      if (!shas.length) return result;
      const full = await Promise.all(shas.map((s) => this.commitOf(deadline, s)));
      // Not %GT: git 2.39 aborts on it for a gpg key it cannot find.
      const out = await this.git(deadline, this.mirrorDir, ['log', '--no-walk=unsorted', '--format=%H%x1f%G?%x1f%GS%x1f%GP%x1f%GF%x1e', ...full, '--'], {
        config: [['gpg.ssh.allowedSignersFile', trust.sshAllowedSignersFile]],
        env: { GNUPGHOME: trust.gnupgHome },
      });
      for (const record of out.split('\x1e')) {
        const [commit = '', status = '', signer = '', primary = '', key = ''] = record.trim().split('\x1f');
        if (!FULL_SHA.test(commit)) continue;
        result.set(commit, { commit, status: (SIGNATURE_STATUSES.has(status) ? status : 'E') as SignatureStatus, signer, fingerprint: primary || key });
      }
      return result;
    });
  }

  // ---- internals ----------------------------------------------------------------------------

  private async call<T>(what: string, options: CallOptions, body: (deadline: Deadline) => Promise<T>): Promise<T> {
    return exclusive(this.mirrorDir, async () => {
      const deadline = new Deadline(this.root, this.timeoutMs, options.signal);
      try {
        return await body(deadline);
      } catch (e) {
        throw this.toSourceError(what, e);
      } finally {
        deadline.finish();
      }
    });
  }

  private worktree(dir: string, sha: string): Worktree {
    return {
      dir,
      sha,
      remove: () => exclusive(this.mirrorDir, async () => {
        await this.discardCheckout(dir);
        // A tampered mirror is dropped (the next fetch makes it again), never run git in.
        if (!(await isBareRepo(this.mirrorDir)) || (await this.dropIfTampered())) return;
        const deadline = new Deadline(this.root, this.timeoutMs);
        try {
          await this.git(deadline, this.mirrorDir, ['worktree', 'prune']);
        } catch (e) {
          throw this.toSourceError('worktree prune', e);
        } finally {
          deadline.finish();
        }
      }),
    };
  }

  /** Makes sure an intact mirror exists; true when it had to be (re)created. */
  private async ensureMirror(deadline: Deadline): Promise<boolean> {
    if (await isBareRepo(this.mirrorDir)) {
      if (!(await this.dropIfTampered())) return false;
    }
    await mkdir(this.root, { recursive: true });
    if (existsSync(this.mirrorDir)) {
      this.log(`the mirror of ${this.url} is damaged; recreating it`);
      await rm(this.mirrorDir, { recursive: true, force: true });
    }
    // Leftovers of an interrupted creation.
    for (const name of await readdir(this.root)) {
      if (name.startsWith('mirror.tmp-')) await rm(join(this.root, name), { recursive: true, force: true });
    }
    // Created aside and renamed into place, so a crash never leaves a half-initialized mirror.
    const tmp = join(this.root, `mirror.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    // No template: no sample hooks, no info/exclude; the engine writes the only config files.
    await this.git(deadline, this.root, ['init', '--bare', '--quiet', '--template=', tmp]);
    await writeMirrorFiles(tmp);
    await writeFile(join(this.root, 'url'), `${this.url}\n`);
    await rename(tmp, this.mirrorDir);
    return true;
  }

  /**
   * Removes the mirror (and every checkout, whose files the same code could have changed) when
   * its configuration is not what the engine wrote. True when it did.
   */
  private async dropIfTampered(): Promise<boolean> {
    const found = await findTampering(this.mirrorDir).catch((e: Error) => `it cannot be read (${e.message})`);
    if (!found) return false;
    this.log(`the mirror of ${this.url} was changed by something other than the engine: ${found}; `
      + 'its configuration is not trusted, so the mirror and its checkouts are recreated from the remote');
    await rm(this.mirrorDir, { recursive: true, force: true });
    await rm(this.checkoutsDir, { recursive: true, force: true });
    return true;
  }

  /**
   * For calls other than fetch: a tampered mirror is recreated and fetched again, so the call
   * goes on with trusted data. A missing mirror is left alone (fetch() creates it).
   */
  private async repairIfTampered(deadline: Deadline): Promise<void> {
    if (!(await isBareRepo(this.mirrorDir))) return;
    if (!(await this.dropIfTampered())) return;
    await this.ensureMirror(deadline);
    await this.fetchRefs(deadline);
    const ref = this.ref?.toLowerCase();
    if (ref && FULL_SHA.test(ref) && !(await this.hasCommit(deadline, ref))) await this.resolve(deadline, this.ref!);
  }

  /** The full SHA of a commit in the mirror (SourceError when it has none such). */
  private async commitOf(deadline: Deadline, sha: string): Promise<string> {
    if (!HEX_PREFIX.test(sha)) {
      throw new SourceError('ref-not-found', `'${sha}' is not a commit SHA; pass the sha of a Revision from fetch()`, { url: this.url });
    }
    if (FULL_SHA.test(sha.toLowerCase()) && (await this.hasCommit(deadline, sha.toLowerCase()))) return sha.toLowerCase();
    return this.expandSha(deadline, sha);
  }

  private refspecs(): string[] {
    const specs = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'];
    if (this.ref?.startsWith('refs/') && !this.ref.startsWith('refs/heads/') && !this.ref.startsWith('refs/tags/')) {
      specs.push(`+${this.ref}:${this.ref}`);
    }
    return specs;
  }

  private async fetchRefs(deadline: Deadline): Promise<void> {
    const args = ['fetch', '--prune', '--no-tags', '--no-write-fetch-head', '--verbose', '--', this.remote.url, ...this.refspecs()];
    try {
      await this.git(deadline, this.mirrorDir, args);
    } catch (e) {
      // A corrupt mirror is only a cache: drop it and fetch once more from scratch.
      if (e instanceof GitExit && classifyGitFailure(e.stderr).kind === 'git' && /corrupt|bad object|not a git repository|unable to read|bad config/i.test(e.stderr)) {
        this.log(`the mirror of ${this.url} is corrupt (${redact(e.stderr.trim().split('\n')[0] ?? '')}); recreating it`);
        await rm(this.mirrorDir, { recursive: true, force: true });
        await this.ensureMirror(deadline);
        await this.git(deadline, this.mirrorDir, args);
        return;
      }
      throw e;
    }
  }

  private async resolve(deadline: Deadline, ref: string): Promise<Revision> {
    const candidates: Array<{ rev: string; refName: string | null }> = [];
    if (ref.startsWith('refs/')) {
      candidates.push({ rev: ref, refName: ref });
    } else {
      // A branch wins over a tag of the same name: branches are what GitOps usually follows.
      candidates.push({ rev: `refs/heads/${ref}`, refName: `refs/heads/${ref}` }, { rev: `refs/tags/${ref}`, refName: `refs/tags/${ref}` });
      if (HEX_PREFIX.test(ref)) candidates.push({ rev: ref.toLowerCase(), refName: null });
    }
    for (const candidate of candidates) {
      const found = await this.tryDescribe(deadline, candidate.rev);
      if (found) return { ...found, ref, refName: candidate.refName };
    }
    // A commit no branch or tag reaches (an old or unmerged commit): ask for it by id.
    if (FULL_SHA.test(ref.toLowerCase())) {
      const sha = ref.toLowerCase();
      try {
        await this.git(deadline, this.mirrorDir, ['fetch', '--no-tags', '--no-write-fetch-head', '--verbose', '--', this.remote.url, `+${sha}:refs/kgitops/commits/${sha}`]);
        const found = await this.tryDescribe(deadline, sha);
        if (found) return { ...found, ref, refName: null };
      } catch (e) {
        if (!(e instanceof GitExit) || classifyGitFailure(e.stderr).kind !== 'ref-not-found') throw e;
      }
    }
    throw await this.refNotFound(deadline, ref);
  }

  /**
   * No ref configured: the branch the remote's HEAD names now (`git ls-remote --symref`), so a
   * repo whose default branch is master, trunk or develop syncs, and a new default is followed.
   * A HEAD detached at a commit (a non-bare repo checked out so) is followed as that commit.
   */
  private async resolveDefaultBranch(deadline: Deadline): Promise<Revision> {
    const out = await this.git(deadline, this.mirrorDir, ['ls-remote', '--symref', '--', this.remote.url, 'HEAD']);
    const branch = /^ref: (refs\/heads\/\S+)\tHEAD$/m.exec(out)?.[1];
    if (branch) {
      const found = await this.tryDescribe(deadline, branch);
      if (found) return { ...found, ref: 'HEAD', refName: branch, defaultBranch: true };
      // HEAD names a branch without commits (refs/heads/main in a repo that only has master).
      throw await this.refNotFound(deadline, branch, `the default branch of ${this.url} (its HEAD) is '${branch.slice('refs/heads/'.length)}', which has no commits`);
    }
    const sha = /^([0-9a-f]{40}|[0-9a-f]{64})\tHEAD$/m.exec(out)?.[1];
    if (sha) {
      let found = await this.tryDescribe(deadline, sha);
      if (!found) {
        await this.git(deadline, this.mirrorDir, ['fetch', '--no-tags', '--no-write-fetch-head', '--verbose', '--', this.remote.url, `+${sha}:refs/kgitops/commits/${sha}`]);
        found = await this.tryDescribe(deadline, sha);
      }
      if (found) return { ...found, ref: 'HEAD', refName: null, defaultBranch: true };
    }
    // No HEAD advertised: it names a branch without commits (a bare repo made with `git init
    // --bare`, HEAD master, that only main was pushed to), and git does not say which. A repo
    // with a single branch has no choice to make; with several, which one is for a person to say.
    const heads = (await this.git(deadline, this.mirrorDir, ['for-each-ref', '--format=%(refname)', 'refs/heads'])).split('\n').filter(Boolean);
    if (heads.length === 1) {
      const found = await this.tryDescribe(deadline, heads[0]);
      if (found) return { ...found, ref: 'HEAD', refName: heads[0], defaultBranch: true };
    }
    if (heads.length > 1) {
      throw await this.refNotFound(deadline, 'HEAD', `${this.url} has no usable default branch: its HEAD names a branch without commits`);
    }
    const hint = 'push a commit to the repository, or set ref to a branch, tag or commit SHA';
    throw new SourceError('ref-not-found', `${this.url} has no default branch: its HEAD names no commit (is the repository empty?); ${hint}`, { url: this.url, hint });
  }

  /** @param lead what went wrong, when it is not simply "ref ... not found" */
  private async refNotFound(deadline: Deadline, ref: string, lead?: string): Promise<SourceError> {
    const out = await this.git(deadline, this.mirrorDir, ['for-each-ref', '--format=%(refname)', 'refs/heads', 'refs/tags']);
    const names = out.split('\n').filter(Boolean);
    const branches = names.filter((n) => n.startsWith('refs/heads/')).map((n) => n.slice('refs/heads/'.length)).sort();
    const tags = names.filter((n) => n.startsWith('refs/tags/')).map((n) => n.slice('refs/tags/'.length)).sort();
    const wanted = ref.replace(/^refs\/(heads|tags)\//, '');
    const suggestion = closest(wanted, [...branches, ...tags]);
    let message = lead ?? `ref '${ref}' not found in ${this.url}`;
    if (suggestion) message += ` (did you mean '${suggestion}'?)`;
    message += branches.length || tags.length
      ? `; branches: ${listNames(branches)}${tags.length ? `; tags: ${listNames(tags)}` : ''}`
      : '; the repository has no branches or tags';
    const hint = 'set ref to an existing branch, tag or commit SHA';
    return new SourceError('ref-not-found', message, { url: this.url, hint });
  }

  private async hasCommit(deadline: Deadline, sha: string): Promise<boolean> {
    try {
      await this.git(deadline, this.mirrorDir, ['rev-parse', '--verify', '--quiet', `${sha}^{commit}`]);
      return true;
    } catch (e) {
      if (e instanceof GitExit) return false;
      throw e;
    }
  }

  private async expandSha(deadline: Deadline, sha: string): Promise<string> {
    try {
      return (await this.git(deadline, this.mirrorDir, ['rev-parse', '--verify', '--quiet', `${sha}^{commit}`])).trim();
    } catch (e) {
      if (!(e instanceof GitExit)) throw e;
      throw new SourceError('ref-not-found', `commit ${sha} is not in the mirror of ${this.url} (or is ambiguous); call fetch() first and pass the full SHA`, { url: this.url });
    }
  }

  private async tryDescribe(deadline: Deadline, rev: string): Promise<Omit<Revision, 'ref' | 'refName'> | undefined> {
    try {
      return await this.describe(deadline, rev);
    } catch (e) {
      if (e instanceof GitExit) return undefined;
      throw e;
    }
  }

  private async describe(deadline: Deadline, rev: string): Promise<Omit<Revision, 'ref' | 'refName'>> {
    const out = await this.git(deadline, this.mirrorDir,
      ['log', '-1', '--no-walk', '--format=%H%x00%an%x00%ae%x00%cI%x00%B', '--end-of-options', `${rev}^{commit}`, '--']);
    const [sha = '', name = '', email = '', time = '', body = ''] = out.split('\0');
    return { sha: sha.trim(), message: body.split('\n')[0]?.trim() ?? '', author: `${name} <${email}>`, time: new Date(time).toISOString() };
  }

  private async isIntact(deadline: Deadline, dir: string, sha: string): Promise<boolean> {
    if (!existsSync(dir + READY_SUFFIX)) return false;
    try {
      // The .git file must lead to this mirror's own registration of this directory: one that
      // leads elsewhere would make git below read a repository (and a config) of someone's making.
      const gitFile = await readFile(join(dir, '.git'), 'utf8');
      const adminDir = /^gitdir: (.+)\n?$/.exec(gitFile)?.[1];
      if (!adminDir || dirname(adminDir) !== join(this.mirrorDir, 'worktrees')) return false;
      if ((await readFile(join(adminDir, 'gitdir'), 'utf8')).trim() !== join(dir, '.git')) return false;
      if ((await readFile(join(adminDir, 'HEAD'), 'utf8')).trim() !== sha) return false;
    } catch {
      return false;
    }
    try {
      const status = await this.git(deadline, dir, ['status', '--porcelain', '--branch', '--untracked-files=no']);
      if (!status.split('\n').some((line) => line && !line.startsWith('##'))) return true;
      // Tracked files were edited in place: put them back, keeping untracked ones (node_modules).
      this.log(`checkout ${sha.slice(0, 12)} had modified files; restoring them`);
      await this.git(deadline, dir, ['reset', '--hard', '--quiet']);
      return true;
    } catch (e) {
      if (e instanceof GitExit) return false;
      throw e;
    }
  }

  private async makeCheckout(deadline: Deadline, dir: string, sha: string): Promise<void> {
    if (existsSync(dir) || existsSync(dir + READY_SUFFIX)) {
      this.log(`checkout ${sha.slice(0, 12)} is incomplete (interrupted earlier?); making it again`);
    }
    await this.discardCheckout(dir);
    if (!(await this.hasCommit(deadline, sha))) {
      throw new SourceError('ref-not-found', `commit ${sha} is not in the mirror of ${this.url}; call fetch() first`, { url: this.url });
    }
    await mkdir(this.checkoutsDir, { recursive: true });
    // Twice --force: takes over a registration left behind (even one locked by an interrupted
    // `worktree add`) for this directory, which no longer exists.
    await this.git(deadline, this.mirrorDir, ['worktree', 'add', '--force', '--force', '--detach', dir, sha]);
    const marker = dir + READY_SUFFIX;
    await writeFile(`${marker}.tmp`, `${sha}\n`);
    await rename(`${marker}.tmp`, marker);
  }

  /** Marker first: from then on the directory counts as half-made, whatever happens next. */
  private async discardCheckout(dir: string): Promise<void> {
    await rm(dir + READY_SUFFIX, { force: true });
    await rm(`${dir}${READY_SUFFIX}.tmp`, { force: true });
    await rm(dir, { recursive: true, force: true });
  }

  /** Runs git; one retry when a lock file left by a killed git blocks it. */
  private async git(deadline: Deadline, cwd: string, args: string[], extra?: CommandExtras): Promise<string> {
    try {
      return await this.runGit(deadline, cwd, args, extra);
    } catch (e) {
      const lock = e instanceof GitExit ? /unable to create '([^']+\.lock)': file exists/i.exec(e.stderr)?.[1] : undefined;
      if (!lock || !(await removeIfStale(lock))) throw e;
      this.log(`removed a stale lock file ${lock}`);
      return this.runGit(deadline, cwd, args, extra);
    }
  }

  /**
   * Note: simple-git waits 50 ms more after a command that printed nothing at all, so commands
   * on the hot path are chosen (or given --verbose) to print something.
   */
  private async runGit(deadline: Deadline, cwd: string, args: string[], extra?: CommandExtras): Promise<string> {
    if (deadline.signal.aborted) throw new Cancelled(deadline.timedOut);
    const env = this.environment(extra);
    const git = simpleGit({
      baseDir: cwd,
      abort: deadline.signal,
      allowEnvironment: Object.keys(env).filter(isGuardedEnvKey),
      // simple-git refuses these keys and variables unless allowed; we set each of them to a
      // safe value (git-env.ts), which is the point.
      unsafe: {
        allowUnsafeConfigEnvCount: true,
        allowUnsafeAskPass: true,
        allowUnsafeSshCommand: true,
        allowUnsafeCredentialHelper: true,
        allowUnsafeHooksPath: true,
        allowUnsafeFsMonitor: true,
        allowUnsafeProtocolOverride: true,
        allowUnsafeConfigPaths: true,
        allowUnsafeGpgProgram: true,
        allowUnsafeTemplateDir: true,
      },
      // simple-git only fails a command that wrote to stderr; `merge-base --is-ancestor` answers
      // "no" with exit code 1 and no output, so every non-zero exit becomes a GitExit.
      errors: (error, result) => {
        if (error instanceof GitPluginError) return error;
        if (result.exitCode !== 0) return new GitExit(result.exitCode, Buffer.concat(result.stdErr).toString('utf8'));
        return error;
      },
    }).env(env);
    try {
      return await git.raw(args);
    } catch (e) {
      if (deadline.signal.aborted) {
        deadline.reap();
        throw new Cancelled(deadline.timedOut);
      }
      if (e instanceof GitExit) throw e;
      throw new GitExit(-1, e instanceof Error ? e.message : String(e));
    }
  }

  private credentials(): { username: string; token: string; source: string } | undefined {
    if (this.remote.transport !== 'http' && this.remote.transport !== 'https') return undefined;
    const auth = this.auth?.type === 'ssh' ? undefined : this.auth;
    const tokenEnv = auth?.tokenEnv ?? DEFAULT_TOKEN_ENV;
    const usernameEnv = auth?.usernameEnv ?? DEFAULT_USERNAME_ENV;
    const username = auth?.username ?? this.remote.username ?? (this.lookupEnv[usernameEnv] || undefined) ?? DEFAULT_USERNAME;
    if (auth?.token) return { username, token: auth.token, source: 'the token in the source settings' };
    if (this.remote.username !== undefined || this.remote.password !== undefined) {
      // Credentials written into the URL: used, but only ever through the environment.
      return { username, token: this.remote.password ?? this.lookupEnv[tokenEnv] ?? '', source: 'the credentials in the repository URL' };
    }
    const token = this.lookupEnv[tokenEnv];
    if (token) return { username, token, source: tokenEnv };
    return undefined;
  }

  private environment(extra: CommandExtras = {}): Record<string, string> {
    const config: Array<[string, string]> = [
      ['gc.autoDetach', 'false'],
      ['advice.detachedHead', 'false'],
    ];
    let ssh: string | undefined;
    const seconds = Math.max(1, Math.ceil(this.timeoutMs / 1000));
    if (this.remote.transport === 'http' || this.remote.transport === 'https') {
      // An empty value clears the helper list: no helper may prompt, or store our token.
      config.push(['credential.helper', ''], ['http.lowSpeedLimit', '1'], ['http.lowSpeedTime', String(seconds)]);
      const creds = this.credentials();
      if (creds) {
        // Scoped to the origin, so a redirect to another host does not receive the token.
        config.push([`http.${new URL(this.remote.url).origin}/.extraHeader`, basicAuthHeader(creds.username, creds.token)]);
      }
    } else if (this.remote.transport === 'ssh') {
      const auth = this.auth?.type === 'ssh' ? this.auth : undefined;
      ssh = sshCommand({ keyFile: auth?.keyFile, knownHostsFile: auth?.knownHostsFile, connectTimeoutSeconds: Math.min(seconds, 30) });
    }
    config.push(...(extra.config ?? []));
    return buildGitEnv({ base: process.env, config, protocols: TRANSPORT_PROTOCOLS[this.remote.transport], sshCommand: ssh, extra: extra.env });
  }

  private secrets(): string[] {
    const creds = this.credentials();
    if (!creds || !creds.token) return [];
    return [creds.token, basicAuthHeader(creds.username, creds.token).slice('Authorization: Basic '.length)];
  }

  private authHint(reason: string): string {
    if (this.remote.transport === 'ssh') {
      const auth = this.auth?.type === 'ssh' ? this.auth : undefined;
      if (/host key/.test(reason)) return `add the server's host key to ${auth?.knownHostsFile ?? 'the known_hosts file'} (ssh-keyscan)`;
      return auth?.keyFile ? `check that the key ${auth.keyFile} is allowed to read the repository` : 'configure an ssh key that may read the repository';
    }
    const creds = this.credentials();
    const tokenEnv = (this.auth?.type === 'ssh' ? undefined : this.auth?.tokenEnv) ?? DEFAULT_TOKEN_ENV;
    if (!creds) return `set ${tokenEnv} to a token that may read the repository`;
    return `check ${creds.source}`;
  }

  private toSourceError(what: string, e: unknown): unknown {
    if (e instanceof SourceError) return e;
    const url = this.url;
    if (e instanceof Cancelled) {
      if (e.timedOut) {
        const hint = 'check the network and the server, or raise timeoutMs';
        return new SourceError('timeout', `git ${what} of ${url} timed out after ${formatSeconds(this.timeoutMs)}; ${hint}`, { url, hint });
      }
      const err = new Error(`git ${what} of ${url} was cancelled`);
      err.name = 'AbortError';
      return err;
    }
    if (!(e instanceof GitExit)) {
      // fs errors while managing the cache: nothing secret in them, but say where.
      const detail = e instanceof Error ? e.message : String(e);
      return new SourceError('git', `git ${what} for ${url} failed: ${redact(detail, this.secrets())}`, { url, cause: e });
    }
    const detail = redact(e.stderr.trim(), this.secrets());
    const { kind, reason } = classifyGitFailure(detail);
    let said = redact(reason, this.secrets());
    switch (kind) {
      case 'auth': {
        if (this.remote.transport === 'http' || this.remote.transport === 'https') {
          // git's own words ("could not read Username") describe its prompt, not the problem.
          const sent = this.credentials() !== undefined;
          said = !sent ? 'the server requires credentials'
            : /403/.test(said) ? 'the server answered 403 Forbidden: the token may not read this repository'
              : 'the credentials were rejected';
        }
        const hint = this.authHint(said);
        return new SourceError('auth', `authentication failed for ${url} (${said}): ${hint}`, { url, hint, detail });
      }
      case 'unreachable': {
        const hint = /certificate|tls/i.test(said)
          ? "trust the server's CA (http.sslCAInfo or GIT_SSL_CAINFO)"
          : /no git repository/.test(said) ? 'check the URL' : 'check the URL and the network';
        return new SourceError('unreachable', `cannot reach ${url}: ${said}; ${hint}`, { url, hint, detail });
      }
      case 'timeout': {
        const hint = 'check the network and the server, or raise timeoutMs';
        return new SourceError('timeout', `git ${what} of ${url} timed out: ${said}; ${hint}`, { url, hint, detail });
      }
      case 'ref-not-found': {
        const hint = 'set ref to an existing branch, tag or commit SHA';
        return new SourceError('ref-not-found', `ref '${this.ref ?? 'HEAD'}' not found in ${url}: ${said}; ${hint}`, { url, hint, detail });
      }
      default: {
        const hint = /\.lock': file exists/i.test(detail)
          ? `another git process is using the cache (a lock older than ${STALE_LOCK_MS / 1000} s is removed by itself)`
          : undefined;
        return new SourceError('git', `git ${what} failed for ${url}: ${said}${hint ? `; ${hint}` : ''}`, { url, hint, detail });
      }
    }
  }

  private log(line: string): void {
    this.logLine?.(redact(line, this.secrets()));
  }
}

/** More configuration and environment for one command (signature checks). */
interface CommandExtras {
  readonly config?: ReadonlyArray<[string, string]>;
  readonly env?: Readonly<Record<string, string>>;
}

/** A path inside the repository, as git's tree lookups want it; refuses ones that leave it. */
function repoPath(path: string): string {
  const p = posix.normalize(path.replace(/\\/g, '/')).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  // eslint-disable-next-line no-control-regex
  if (!p || p === '.' || p.startsWith('/') || p === '..' || p.startsWith('../') || /[\x00-\x1f]/.test(p)) {
    throw new SourceError('git', `'${path}' is not a file path inside the repository`);
  }
  return p;
}

/** Parses `git blame --line-porcelain`: a header per line, its commit's fields, then the line. */
function parseLinePorcelain(out: string): BlameLine[] {
  const lines: BlameLine[] = [];
  let current: { commit: string; originalLine: number; line: number } | undefined;
  let author = '';
  let mail = '';
  let filename = '';
  for (const text of out.split('\n')) {
    const header = /^([0-9a-f]{40,64}) (\d+) (\d+)(?: \d+)?$/.exec(text);
    if (header && !current) {
      current = { commit: header[1]!, originalLine: Number(header[2]), line: Number(header[3]) };
      continue;
    }
    if (!current) continue;
    if (text.startsWith('\t')) {
      lines.push({ ...current, originalPath: filename, author: `${author} ${mail}`.trim() });
      current = undefined;
      author = mail = filename = '';
    } else if (text.startsWith('author ')) author = text.slice('author '.length);
    else if (text.startsWith('author-mail ')) mail = text.slice('author-mail '.length);
    else if (text.startsWith('filename ')) filename = text.slice('filename '.length);
  }
  return lines;
}

async function isBareRepo(dir: string): Promise<boolean> {
  try {
    const [head, objects, refs] = await Promise.all([stat(join(dir, 'HEAD')), stat(join(dir, 'objects')), stat(join(dir, 'refs'))]);
    return head.isFile() && objects.isDirectory() && refs.isDirectory();
  } catch {
    return false;
  }
}

async function removeIfStale(lockFile: string): Promise<boolean> {
  try {
    const info = await stat(lockFile);
    if (Date.now() - info.mtimeMs < STALE_LOCK_MS) return false;
    await unlink(lockFile);
    return true;
  } catch {
    return false;
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function listNames(names: readonly string[], max = 15): string {
  if (names.length === 0) return '(none)';
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, … (${names.length - max} more)` : shown;
}

/** The first name closest to `wanted` within edit distance 2 (a likely typo). */
function closest(wanted: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const d = editDistance(wanted, name);
    if (d > 0 && d < bestDistance) { best = name; bestDistance = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
