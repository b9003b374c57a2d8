/**
 * Source failures as one typed error. `kind` is what the engine branches on (retry later, report
 * and wait for a config change, ...); the message says what is wrong and what to do, and never
 * contains credentials.
 */

export type SourceErrorKind = 'unreachable' | 'auth' | 'ref-not-found' | 'timeout' | 'invalid-url' | 'git';

export interface SourceErrorOptions {
  /** Redacted repository URL. */
  readonly url?: string;
  /** What to do about it (also part of the message). */
  readonly hint?: string;
  /** Redacted git output, for logs. */
  readonly detail?: string;
  readonly cause?: unknown;
}

export class SourceError extends Error {
  readonly url?: string;
  readonly hint?: string;
  readonly detail?: string;

  constructor(readonly kind: SourceErrorKind, message: string, options: SourceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SourceError';
    this.url = options.url;
    this.hint = options.hint;
    this.detail = options.detail;
  }

  /** Worth retrying unchanged on the next poll: the network or the server may recover. */
  get transient(): boolean {
    return this.kind === 'unreachable' || this.kind === 'timeout';
  }
}

export interface GitFailure {
  readonly kind: SourceErrorKind;
  /** A short reason in plain words, e.g. "connection refused". */
  readonly reason: string;
}

type Rule = readonly [RegExp, SourceErrorKind, string | null];

// First match wins. Network failures come before key problems (ssh warns about a missing key
// file before it even connects), and specific causes before the generic "could not read from
// remote repository" that git prints after most of them. A null reason quotes git's own line.
const RULES: readonly Rule[] = [
  [/host key verification failed|remote host identification has changed|no .*host key is known/, 'auth', 'the host key is not in the known_hosts file'],
  [/operation too slow|operation timed out after \d+ milliseconds/, 'timeout', 'the server stopped sending data'],
  [/could not resolve host|name or service not known|temporary failure in name resolution|nodename nor servname|no address associated with hostname/, 'unreachable', 'the host name does not resolve'],
  [/connection refused|couldn't connect to server|failed to connect to/, 'unreachable', 'connection refused'],
  [/connection timed out|operation timed out/, 'unreachable', 'the connection timed out'],
  [/network is unreachable|no route to host/, 'unreachable', 'no route to the host'],
  [/(no such identity|load key .*|identity file .* not accessible)/, 'auth', 'the ssh key file cannot be used'],
  [/permission denied \((publickey|password|keyboard-interactive)/, 'auth', 'the ssh key was rejected'],
  [/authentication failed|http basic: access denied|invalid username or password|invalid credentials/, 'auth', 'the credentials were rejected'],
  [/could not read (username|password)|terminal prompts disabled/, 'auth', 'the server asks for credentials and none were accepted'],
  [/returned error: 401\b/, 'auth', 'the server answered 401 Unauthorized'],
  [/returned error: 403\b/, 'auth', 'the server answered 403 Forbidden'],
  [/couldn't find remote ref|no such remote ref|not our ref|unadvertised object/, 'ref-not-found', 'the ref is not on the remote'],
  [/ssl certificate problem|server certificate verification failed|certificate verify failed|unable to get local issuer certificate|ssl_connect|gnutls|\btls\b/, 'unreachable', 'the TLS connection failed (certificate not trusted?)'],
  [/does not appear to be a git repository|repository .*not found|returned error: 404\b/, 'unreachable', 'there is no git repository at this address'],
  [/returned error: 5\d\d\b/, 'unreachable', 'the server answered with an error (5xx)'],
  [/connection reset|connection closed|empty reply from server|the remote end hung up|early eof|recv failure|broken pipe/, 'unreachable', 'the connection was dropped'],
  [/unable to access|could not read from remote repository/, 'unreachable', null],
];

/** Maps git's stderr (run with LC_ALL=C) to a kind and a short reason. */
export function classifyGitFailure(stderr: string): GitFailure {
  const lower = stderr.toLowerCase();
  for (const [pattern, kind, reason] of RULES) {
    if (pattern.test(lower)) return { kind, reason: reason ?? lastGitLine(stderr) };
  }
  return { kind: 'git', reason: lastGitLine(stderr) };
}

/** The most telling line of git's output: the first `fatal:`/`error:` line, else the last line. */
export function lastGitLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const fatal = lines.find((l) => /^(fatal|error):/i.test(l));
  const line = fatal ?? lines[lines.length - 1] ?? 'no output';
  return line.replace(/^(fatal|error):\s*/i, '');
}
