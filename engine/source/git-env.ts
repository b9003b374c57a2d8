/**
 * The environment every git command runs with. Credentials go here and nowhere else: an
 * Authorization header as configuration passed through GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n /
 * GIT_CONFIG_VALUE_n, so it is not in git's arguments (visible in `ps`), not in the URL and not
 * in any file. Nothing may prompt: the engine runs unattended.
 *
 * It is also what keeps git from running anything a committer (or code a commit ran) chose:
 * configuration passed this way is command-line scope, above any file, so it overrides what a
 * tampered mirror config says for these keys; system and global configuration (and attributes)
 * are not read at all; only the remote's own transport is allowed. What cannot be overridden
 * by key (a filter.<name>.smudge under a name we cannot know, url.<x>.insteadOf, include.path)
 * is caught by the mirror's integrity check (mirror.ts) before git runs.
 */

/** Variables simple-git guards (and we therefore drop from the inherited environment). */
const GUARDED_PLAIN = new Set(['EDITOR', 'VISUAL', 'PAGER', 'PREFIX', 'SSH_ASKPASS']);
/** Inherited git variables worth keeping: where to find a private CA. */
const PASSTHROUGH = new Set(['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH']);

export function isGuardedEnvKey(key: string): boolean {
  const upper = key.toUpperCase().trim();
  return upper.startsWith('GIT_') || GUARDED_PLAIN.has(upper);
}

/** Transports git may use (protocol.<name>.allow); `ext` and `fd` are never among them. */
export type GitProtocol = 'file' | 'http' | 'https' | 'ssh' | 'git';

/**
 * Configuration of every git command, before the caller's own. Each entry names a way a
 * repository's or a user's configuration could make git run a program or change what it reads.
 */
export const SAFE_GIT_CONFIG: ReadonlyArray<readonly [string, string]> = [
  // No hooks (post-checkout, reference-transaction, pre-auto-gc ...): /dev/null/<hook> never exists.
  ['core.hooksPath', '/dev/null'],
  // core.fsmonitor names a program git runs on status and checkout.
  ['core.fsmonitor', 'false'],
  // The per-user attributes and excludes files (~/.config/git/...), read even without a global config.
  ['core.attributesFile', '/dev/null'],
  ['core.excludesFile', '/dev/null'],
  // History as the objects say, not as replace refs or a commit-graph file say (blame, signatures).
  ['core.useReplaceRefs', 'false'],
  ['core.commitGraph', 'false'],
  ['gc.writeCommitGraph', 'false'],
  ['fetch.writeCommitGraph', 'false'],
  // Every fetched object is checked (malformed trees, paths like .git or ..); two cosmetic
  // defects old git versions wrote into real histories only warn.
  ['fetch.fsckObjects', 'true'],
  ['fetch.fsck.zeroPaddedFilemode', 'warn'],
  ['fetch.fsck.badTimezone', 'warn'],
  ['submodule.recurse', 'false'],
  ['fetch.recurseSubmodules', 'false'],
  // No helper may prompt, or store a token.
  ['credential.helper', ''],
  // Signature verification runs the programs we name, never ones from a config file.
  ['gpg.program', 'gpg'],
  ['gpg.ssh.program', 'ssh-keygen'],
  ['gpg.x509.program', 'gpgsm'],
  ['gpg.ssh.allowedSignersFile', '/dev/null'],
  ['log.showSignature', 'false'],
  // An empty name resets the list: no configured file may hide commits from blame.
  ['blame.ignoreRevsFile', ''],
  // Every transport off; the remote's own are allowed after this (protocolConfig).
  ['protocol.allow', 'never'],
  ['protocol.ext.allow', 'never'],
  ['protocol.fd.allow', 'never'],
];

/** protocol.<name>.allow for the transports a remote needs. */
export function protocolConfig(protocols: readonly GitProtocol[]): Array<[string, string]> {
  return protocols.map((p) => [`protocol.${p}.allow`, 'always']);
}

export interface GitEnvInput {
  /** The inherited environment (process.env). */
  readonly base: NodeJS.ProcessEnv;
  /** git configuration for this command, in order; it comes after SAFE_GIT_CONFIG. */
  readonly config: ReadonlyArray<readonly [string, string]>;
  /** The transports this command may use. @default none (local operations only) */
  readonly protocols?: readonly GitProtocol[];
  /** GIT_SSH_COMMAND for ssh transports. */
  readonly sshCommand?: string;
  /** More variables (e.g. GNUPGHOME for signature checks); they win over inherited ones. */
  readonly extra?: Readonly<Record<string, string>>;
}

export function buildGitEnv({ base, config, protocols = [], sshCommand, extra }: GitEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value === undefined) continue;
    // Inherited GIT_* variables (GIT_DIR from a hook, GIT_CURL_VERBOSE that would print our
    // Authorization header, a user's GIT_SSH_COMMAND ...) must not change what git does here.
    if (isGuardedEnvKey(key) && !PASSTHROUGH.has(key.toUpperCase())) continue;
    if (key === 'LANGUAGE') continue;
    env[key] = value;
  }
  // English messages: errors are classified from git's stderr.
  env.LC_ALL = 'C';
  env.GIT_TERMINAL_PROMPT = '0';
  // Empty (not unset) so git neither runs an askpass program nor falls back to SSH_ASKPASS.
  env.GIT_ASKPASS = '';
  env.GCM_INTERACTIVE = 'never';
  // Neither /etc/gitconfig nor ~/.gitconfig (nor $XDG_CONFIG_HOME/git/config): a user's hooks
  // path, aliases or url rewrites must not reach the engine's git.
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.GIT_CONFIG_SYSTEM = '/dev/null';
  env.GIT_CONFIG_GLOBAL = '/dev/null';
  env.GIT_ATTR_NOSYSTEM = '1';
  env.GIT_NO_REPLACE_OBJECTS = '1';
  const all = [...SAFE_GIT_CONFIG, ...protocolConfig(protocols), ...config];
  env.GIT_CONFIG_COUNT = String(all.length);
  all.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  if (sshCommand) env.GIT_SSH_COMMAND = sshCommand;
  Object.assign(env, extra);
  return env;
}

/** Quotes one word for the POSIX shell git runs GIT_SSH_COMMAND with. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface SshOptions {
  readonly keyFile?: string;
  readonly knownHostsFile?: string;
  readonly connectTimeoutSeconds: number;
}

/** ssh that never asks anything and only talks to hosts whose key is already known. */
export function sshCommand({ keyFile, knownHostsFile, connectTimeoutSeconds }: SshOptions): string {
  const words = ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
    '-o', `ConnectTimeout=${Math.max(1, Math.ceil(connectTimeoutSeconds))}`,
    '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=2'];
  if (keyFile) words.push('-o', 'IdentitiesOnly=yes', '-i', shellQuote(keyFile));
  // ssh splits this option's value at spaces (it takes a list); double quotes keep one path.
  if (knownHostsFile) words.push('-o', shellQuote(`UserKnownHostsFile="${knownHostsFile}"`));
  return words.join(' ');
}

/** `Authorization: Basic …` for a token, as git's http.extraHeader wants it. */
export function basicAuthHeader(username: string, token: string): string {
  return `Authorization: Basic ${Buffer.from(`${username}:${token}`).toString('base64')}`;
}
