/**
 * Repository addresses: which forms are accepted, how credentials are taken out of them, and how
 * anything printed is redacted. Git only ever sees the credential-free URL; credentials travel in
 * the environment (see git.ts).
 */
import { createHash } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { SourceError } from './errors.js';

export type Transport = 'local' | 'file' | 'http' | 'https' | 'ssh' | 'git';

export interface GitUrl {
  readonly transport: Transport;
  /** What git is given: credential-free. A local path is made absolute. */
  readonly url: string;
  /** Userinfo found in an http(s) URL; removed from `url`. */
  readonly username?: string;
  readonly password?: string;
  /** sha256 (hex) of `url`: names the mirror in the cache. */
  readonly key: string;
}

const SCHEMES: Record<string, Transport> = {
  'file:': 'file', 'http:': 'http', 'https:': 'https', 'ssh:': 'ssh', 'git+ssh:': 'ssh', 'ssh+git:': 'ssh', 'git:': 'git',
};
const HINT = 'use a local path, file://, https://, http://, ssh:// or git@host:org/repo.git';
// user@host:path with no slash before the colon, as git reads it.
const SCP_LIKE = /^(?:[^@/:\s]+@)?(?:\[[^\]/]+\]|[^@/:\s]+):(?!\/\/)(.+)$/;

function invalid(input: string, why: string): SourceError {
  return new SourceError('invalid-url', `invalid repository URL '${redact(input)}': ${why}; ${HINT}`, { hint: HINT });
}

/** Parses and validates a repository address; throws SourceError('invalid-url'). */
export function parseGitUrl(input: string, cwd: string = process.cwd()): GitUrl {
  const raw = input.trim();
  if (!raw) throw invalid(input, 'it is empty');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) throw invalid(input, 'it contains control characters');
  // A leading dash would be read by git as an option.
  if (raw.startsWith('-')) throw invalid(input, 'it starts with a dash');
  // `ext::cmd` and `fd::` run arbitrary transports; never accept them.
  if (/^[a-z][a-z0-9+.-]*::/i.test(raw)) throw invalid(input, 'transport helpers (<name>::<address>) are not allowed');

  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (scheme) {
    let u: URL;
    try { u = new URL(raw); } catch { throw invalid(input, 'it is not a well-formed URL'); }
    const transport = SCHEMES[u.protocol];
    if (!transport) throw invalid(input, `the scheme '${scheme[1]}' is not supported`);
    if (transport === 'file') {
      if (u.hostname && u.hostname !== 'localhost') throw invalid(input, 'file:// URLs must name a local path');
      if (u.username || u.password) throw invalid(input, 'file:// URLs cannot carry credentials');
      // Passed as written: git itself decodes the path of a file:// URL.
      return { transport, url: raw, key: keyOf(raw) };
    }
    if (!u.hostname) throw invalid(input, 'it has no host');
    if (u.pathname === '/' || u.pathname === '') throw invalid(input, 'it has no repository path');
    let username: string | undefined;
    let password: string | undefined;
    if (transport === 'http' || transport === 'https') {
      if (u.username) username = safeDecode(u.username);
      if (u.password) password = safeDecode(u.password);
      u.username = '';
      u.password = '';
    } else if (u.password) {
      throw invalid(input, `${transport} URLs cannot carry a password; use an ssh key`);
    }
    const url = u.toString();
    return { transport, url, username, password, key: keyOf(url) };
  }

  if (SCP_LIKE.test(raw)) {
    // scp-like addresses carry no secrets (only an ssh user), so they are passed as they are.
    return { transport: 'ssh', url: raw, key: keyOf(raw) };
  }
  const url = resolvePath(cwd, raw);
  return { transport: 'local', url, key: keyOf(url) };
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

function keyOf(url: string): string {
  return createHash('sha256').update(url).digest('hex');
}

/**
 * Removes credentials from text: userinfo in http(s) URLs, any password in a URL, Authorization
 * header values, and each of `secrets` wherever it appears (a token echoed back by a server).
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) {
    // Very short strings would redact ordinary words; real tokens are long.
    if (s && s.length >= 4) out = out.split(s).join('***');
  }
  return out
    .replace(/\b(https?:\/\/)[^/@\s'"]+@/gi, '$1***@')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^/:@\s'"]*):[^/@\s'"]*@/gi, '$1:***@')
    .replace(/(authorization:\s*)(?:\S+\s+)?\S+/gi, '$1***');
}
