/**
 * The pure parts of the source module: accepted URL forms and credential extraction, redaction,
 * the mapping of git's stderr to error kinds, and the environment git runs with.
 */
import { describe, expect, it } from 'vitest';
import { classifyGitFailure, parseGitUrl, redact, SourceError } from '../../../engine/source/index.js';
import { basicAuthHeader, buildGitEnv, SAFE_GIT_CONFIG, shellQuote, sshCommand } from '../../../engine/source/git-env.js';

describe('parseGitUrl', () => {
  it('accepts local paths, file, http(s), ssh and scp-like addresses', () => {
    expect(parseGitUrl('repo', '/srv')).toMatchObject({ transport: 'local', url: '/srv/repo' });
    expect(parseGitUrl('/abs/repo.git')).toMatchObject({ transport: 'local', url: '/abs/repo.git' });
    expect(parseGitUrl('file:///abs/repo.git')).toMatchObject({ transport: 'file', url: 'file:///abs/repo.git' });
    expect(parseGitUrl('https://git.example.com/shop.git')).toMatchObject({ transport: 'https', url: 'https://git.example.com/shop.git' });
    expect(parseGitUrl('http://127.0.0.1:8080/x.git')).toMatchObject({ transport: 'http' });
    expect(parseGitUrl('ssh://git@git.example.com:2222/org/shop.git')).toMatchObject({ transport: 'ssh', url: 'ssh://git@git.example.com:2222/org/shop.git' });
    expect(parseGitUrl('git@github.com:org/shop.git')).toMatchObject({ transport: 'ssh', url: 'git@github.com:org/shop.git' });
  });

  it('takes http credentials out of the URL; the key ignores them', () => {
    const parsed = parseGitUrl('https://bot:p%40ss@git.example.com/shop.git');
    expect(parsed).toMatchObject({ url: 'https://git.example.com/shop.git', username: 'bot', password: 'p@ss' });
    expect(parsed.key).toBe(parseGitUrl('https://git.example.com/shop.git').key);
    expect(parsed.key).toMatch(/^[0-9a-f]{64}$/);
    expect(parseGitUrl('https://git.example.com/other.git').key).not.toBe(parsed.key);
  });

  it('refuses what git would misread or what runs commands, without echoing a password', () => {
    const cases: Record<string, RegExp> = {
      '': /empty/,
      '   ': /empty/,
      '-oProxyCommand=x': /dash/,
      'ext::sh -c id': /transport helpers/,
      'fd::3': /transport helpers/,
      'ftp://host/x.git': /scheme 'ftp'/,
      'https://': /well-formed|no host/,
      'https://host.example.com/': /no repository path/,
      'file://remote-host/x': /local path/,
      'ssh://me:hunter22@host/x.git': /cannot carry a password/,
      'https://bot:hunter22@git.example.com/': /no repository path/,
      'ftp://bot:hunter22@git.example.com/x.git': /scheme 'ftp'/,
      'https://x\n.example.com/a': /control characters/,
    };
    for (const [input, why] of Object.entries(cases)) {
      let error: unknown;
      try { parseGitUrl(input); } catch (e) { error = e; }
      expect(error, input).toBeInstanceOf(SourceError);
      expect((error as SourceError).kind).toBe('invalid-url');
      expect((error as SourceError).message, input).toMatch(why);
      expect((error as SourceError).message).not.toContain('hunter22');
    }
  });
});

describe('redact', () => {
  it('removes URL credentials, Authorization values and listed secrets', () => {
    expect(redact("fatal: unable to access 'https://bot:tok3n@git.example.com/x.git/'")).toBe("fatal: unable to access 'https://***@git.example.com/x.git/'");
    expect(redact('https://tok3nonly@host/x')).toBe('https://***@host/x');
    expect(redact('ssh://git:pw@host/x')).toBe('ssh://git:***@host/x');
    expect(redact('ssh://git@host/x and git@host:org/x')).toBe('ssh://git@host/x and git@host:org/x');
    expect(redact('> Authorization: Basic eC1hY2Nlc3M6dG9r')).toBe('> Authorization: ***');
    expect(redact('echoed ghp_abcdef here', ['ghp_abcdef'])).toBe('echoed *** here');
  });
});

describe('classifyGitFailure', () => {
  const cases: Array<[string, string, string]> = [
    ["fatal: unable to access 'https://h/x.git/': Failed to connect to h port 443 after 3 ms: Couldn't connect to server", 'unreachable', 'connection refused'],
    ["fatal: unable to access 'https://nohost.invalid/x.git/': Could not resolve host: nohost.invalid", 'unreachable', 'the host name does not resolve'],
    ["fatal: '/nonexistent' does not appear to be a git repository\nfatal: Could not read from remote repository.", 'unreachable', 'there is no git repository at this address'],
    ["remote: Repository not found.\nfatal: repository 'https://github.com/o/x.git/' not found", 'unreachable', 'there is no git repository at this address'],
    ["fatal: unable to access 'https://h/x.git/': SSL certificate problem: self-signed certificate", 'unreachable', 'the TLS connection failed (certificate not trusted?)'],
    ["fatal: unable to access 'https://h/x.git/': The requested URL returned error: 502", 'unreachable', 'the server answered with an error (5xx)'],
    ["fatal: Authentication failed for 'https://h/x.git/'", 'auth', 'the credentials were rejected'],
    ["fatal: could not read Username for 'https://h': terminal prompts disabled", 'auth', 'the server asks for credentials and none were accepted'],
    ["fatal: unable to access 'https://h/x.git/': The requested URL returned error: 403", 'auth', 'the server answered 403 Forbidden'],
    ['git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.', 'auth', 'the ssh key was rejected'],
    ['Host key verification failed.\nfatal: Could not read from remote repository.', 'auth', 'the host key is not in the known_hosts file'],
    ['Warning: Identity file /k not accessible: No such file or directory.\nssh: connect to host h port 22: Connection refused\nfatal: Could not read from remote repository.', 'unreachable', 'connection refused'],
    ['fatal: couldn\'t find remote ref refs/pull/1/head', 'ref-not-found', 'the ref is not on the remote'],
    ["fatal: unable to access 'http://h/x.git/': Operation too slow. Less than 1 bytes/sec transferred the last 5 seconds", 'timeout', 'the server stopped sending data'],
    ["error: RPC failed; curl 56 Recv failure: Connection reset by peer\nfatal: early EOF", 'unreachable', 'the connection was dropped'],
    ['fatal: bad object HEAD', 'git', 'bad object HEAD'],
  ];
  it.each(cases)('%s', (stderr, kind, reason) => {
    expect(classifyGitFailure(stderr)).toEqual({ kind, reason });
  });
});

describe('git environment', () => {
  it('drops inherited git variables, never prompts, and passes config through GIT_CONFIG_*', () => {
    const env = buildGitEnv({
      base: { PATH: '/usr/bin', HOME: '/home/x', GIT_DIR: '/elsewhere', GIT_CURL_VERBOSE: '1', GIT_SSL_CAINFO: '/ca.pem', EDITOR: 'vim', LANGUAGE: 'de' },
      config: [['credential.helper', ''], ['http.https://h/.extraHeader', 'Authorization: Basic abc']],
      protocols: ['https'],
    });
    const config = Array.from({ length: Number(env.GIT_CONFIG_COUNT) }, (_, i) => [env[`GIT_CONFIG_KEY_${i}`], env[`GIT_CONFIG_VALUE_${i}`]]);
    const plain = Object.fromEntries(Object.entries(env).filter(([k]) => !/^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(k) && k !== 'GIT_CONFIG_COUNT'));
    expect(plain).toEqual({
      PATH: '/usr/bin', HOME: '/home/x', GIT_SSL_CAINFO: '/ca.pem',
      LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', GCM_INTERACTIVE: 'never',
      GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_SYSTEM: '/dev/null', GIT_CONFIG_GLOBAL: '/dev/null', GIT_ATTR_NOSYSTEM: '1', GIT_NO_REPLACE_OBJECTS: '1',
    });
    // The safe settings first, then the remote's transport, then the caller's (which win).
    expect(config.slice(0, SAFE_GIT_CONFIG.length)).toEqual(SAFE_GIT_CONFIG.map(([k, v]) => [k, v]));
    expect(config.slice(SAFE_GIT_CONFIG.length)).toEqual([
      ['protocol.https.allow', 'always'], ['credential.helper', ''], ['http.https://h/.extraHeader', 'Authorization: Basic abc'],
    ]);
    expect(Object.fromEntries(config)).toMatchObject({
      'core.hooksPath': '/dev/null', 'core.fsmonitor': 'false', 'protocol.allow': 'never', 'protocol.ext.allow': 'never', 'fetch.fsckObjects': 'true',
    });
  });

  it('builds an ssh command that checks host keys strictly and quotes paths', () => {
    const cmd = sshCommand({ keyFile: "/keys/it's key", knownHostsFile: '/etc/known hosts', connectTimeoutSeconds: 10 });
    expect(cmd).toBe("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=2"
      + " -o IdentitiesOnly=yes -i '/keys/it'\\''s key' -o 'UserKnownHostsFile=\"/etc/known hosts\"'");
    expect(shellQuote("a'b")).toBe("'a'\\''b'");
    expect(basicAuthHeader('x-access-token', 't')).toBe(`Authorization: Basic ${Buffer.from('x-access-token:t').toString('base64')}`);
  });
});
