/**
 * Token auth against a real smart-HTTP server (git http-backend behind Basic auth): the right
 * token works, a wrong or missing one is kind 'auth', and the token is never in an error, a log,
 * the mirror's files or any git process's arguments.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSource } from '../../../engine/source/index.js';
import { commit, git, failure, initRepo, startGitHttpServer, tempDir, type GitHttpServer } from './helpers.js';

const TOKEN = 'ghp_S3cretT0kenValue_1234567890';
const TOKEN_B64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');

let tmp: { dir: string; cleanup(): void };
let server: GitHttpServer;
let head: string;
let url: string;

beforeAll(async () => {
  tmp = tempDir('auth');
  const root = join(tmp.dir, 'served');
  const work = initRepo(join(tmp.dir, 'work'));
  head = commit(work, { 'app.ts': 'export {}\n' }, 'shop app');
  git(tmp.dir, 'init', '-q', '--bare', join(root, 'shop.git'));
  git(work, 'push', '-q', join(root, 'shop.git'), 'main');
  server = await startGitHttpServer({ root, username: 'x-access-token', token: TOKEN });
  url = server.url('shop.git');
});
afterAll(async () => {
  await server.close();
  tmp.cleanup();
});

let cacheCount = 0;
function cache(): string {
  return join(tmp.dir, `cache-${++cacheCount}`);
}

/** Every file of a directory tree, concatenated: to prove the token was never written down. */
function allText(dir: string): string {
  let out = '';
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    if (info.isDirectory()) out += allText(path);
    else if (info.size < 1_000_000) out += readFileSync(path, 'latin1');
  }
  return out;
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain(TOKEN_B64);
}

describe('token auth over smart HTTP', () => {
  it('fetches with the token from KGITOPS_GIT_TOKEN, which never shows in git\'s arguments or on disk', async () => {
    server.processes.length = 0;
    const cacheDir = cache();
    const logs: string[] = [];
    const src = new GitSource({ url, cacheDir, env: { KGITOPS_GIT_TOKEN: TOKEN }, log: (l) => logs.push(l) });
    const rev = await src.fetch();
    expect(rev.sha).toBe(head);
    expect(server.authorizations).toContain(`x-access-token:${TOKEN}`);

    // The git processes alive while the server answered: the fetch and its http helper.
    expect(server.processes.some((cmd) => cmd.includes('remote-http') && cmd.includes(url))).toBe(true);
    for (const cmd of server.processes) expectNoSecret(cmd);
    expectNoSecret(allText(cacheDir));
    expectNoSecret(logs.join('\n'));

    const worktree = await src.checkout(rev.sha);
    expect(readFileSync(join(worktree.dir, 'app.ts'), 'utf8')).toBe('export {}\n');
  });

  it('reads the token from process.env by default, and the username from KGITOPS_GIT_USERNAME', async () => {
    const saved = { token: process.env.KGITOPS_GIT_TOKEN, user: process.env.KGITOPS_GIT_USERNAME };
    process.env.KGITOPS_GIT_TOKEN = TOKEN;
    try {
      expect((await new GitSource({ url, cacheDir: cache() }).fetch()).sha).toBe(head);
      process.env.KGITOPS_GIT_USERNAME = 'someone-else';
      const err = await failure(new GitSource({ url, cacheDir: cache() }).fetch());
      expect(err.kind).toBe('auth');
      expect(server.authorizations).toContain(`someone-else:${TOKEN}`);
    } finally {
      for (const [key, value] of [['KGITOPS_GIT_TOKEN', saved.token], ['KGITOPS_GIT_USERNAME', saved.user]] as const) {
        if (value === undefined) delete process.env[key]; else process.env[key] = value;
      }
    }
  });

  it('uses a token variable named in the auth settings', async () => {
    const src = new GitSource({ url, cacheDir: cache(), auth: { tokenEnv: 'SHOP_REPO_TOKEN' }, env: { SHOP_REPO_TOKEN: TOKEN } });
    expect((await src.fetch()).sha).toBe(head);
  });

  it('a wrong token is kind auth, names the variable to check, and is not in the error', async () => {
    const wrong = 'ghp_WrongTokenValue_0987654321';
    server.processes.length = 0;
    const err = await failure(new GitSource({ url, cacheDir: cache(), env: { KGITOPS_GIT_TOKEN: wrong } }).fetch());
    expect(err.kind).toBe('auth');
    expect(err.transient).toBe(false);
    expect(err.message).toMatch(new RegExp(`^authentication failed for ${url} \\(.+\\): check KGITOPS_GIT_TOKEN$`));
    const everything = `${err.message}\n${err.detail ?? ''}\n${err.stack ?? ''}`;
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(Buffer.from(`x-access-token:${wrong}`).toString('base64'));
    for (const cmd of server.processes) expect(cmd).not.toContain(wrong);
  });

  it('a missing token is kind auth and says which variable to set, without prompting', async () => {
    const started = performance.now();
    const err = await failure(new GitSource({ url, cacheDir: cache(), env: {} }).fetch());
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('set KGITOPS_GIT_TOKEN to a token that may read the repository');
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('takes credentials written in the URL out of it: used, never shown', async () => {
    const withCredentials = url.replace('http://', `http://x-access-token:${TOKEN}@`);
    server.processes.length = 0;
    const cacheDir = cache();
    const src = new GitSource({ url: withCredentials, cacheDir, env: {} });
    expect(src.url).toBe(url);
    expect((await src.fetch()).sha).toBe(head);
    for (const cmd of server.processes) expectNoSecret(cmd);
    expectNoSecret(allText(cacheDir));
    // The same URL without credentials names the same mirror.
    expect(new GitSource({ url, cacheDir }).cacheKey).toBe(src.cacheKey);

    const wrong = url.replace('http://', 'http://x-access-token:not-the-token-at-all@');
    const err = await failure(new GitSource({ url: wrong, cacheDir: cache(), env: {} }).fetch());
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('check the credentials in the repository URL');
    expect(`${err.message}${err.detail}`).not.toContain('not-the-token-at-all');
  });
});
