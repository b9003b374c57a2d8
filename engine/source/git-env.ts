/**
 * The environment every git command runs with. Credentials go here and nowhere else: an
 * Authorization header as configuration passed through GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n /
 * GIT_CONFIG_VALUE_n, so it is not in git's arguments (visible in `ps`), not in the URL and not
 * in any file. Nothing may prompt: the engine runs unattended.
 */

/** Variables simple-git guards (and we therefore drop from the inherited environment). */
const GUARDED_PLAIN = new Set(['EDITOR', 'VISUAL', 'PAGER', 'PREFIX', 'SSH_ASKPASS']);
/** Inherited git variables worth keeping: where to find a private CA. */
const PASSTHROUGH = new Set(['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH']);

export function isGuardedEnvKey(key: string): boolean {
  const upper = key.toUpperCase().trim();
  return upper.startsWith('GIT_') || GUARDED_PLAIN.has(upper);
}

export interface GitEnvInput {
  /** The inherited environment (process.env). */
  readonly base: NodeJS.ProcessEnv;
  /** git configuration for this command, in order. */
  readonly config: ReadonlyArray<readonly [string, string]>;
  /** GIT_SSH_COMMAND for ssh transports. */
  readonly sshCommand?: string;
}

export function buildGitEnv({ base, config, sshCommand }: GitEnvInput): Record<string, string> {
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
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  if (sshCommand) env.GIT_SSH_COMMAND = sshCommand;
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
