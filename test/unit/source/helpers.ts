/**
 * Test helpers for the source module: throw-away git repositories, and a real smart-HTTP git
 * server (git http-backend behind Basic auth) that also records the command lines of the git
 * processes alive while it serves a request.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export { cleanEnv, git, initRepo } from '../../fixtures/git.js';
import { expect } from 'vitest';
import { SourceError } from '../../../engine/source/index.js';
import { cleanEnv, git } from '../../fixtures/git.js';
export { closedPort } from '../../fixtures/net.js';

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `kgitops-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes the files (null deletes one), commits everything, returns the new commit SHA. */
export function commit(dir: string, files: Record<string, string | null>, message: string): string {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (content === null) rmSync(full, { force: true });
    else {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** Command lines of the git processes running now (Linux /proc). */
export function gitCommandLines(): string[] {
  const lines: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      if (/(^|\/)git(-[a-z-]+)?( |$)/.test(cmd) || cmd.includes('git-remote-')) lines.push(cmd);
    } catch {
      // The process ended meanwhile.
    }
  }
  return lines;
}

/** The git processes that still talk to `port` once they had up to `timeoutMs` to end (a loaded machine reaps slowly). */
export async function gitProcessesLeft(port: number, timeoutMs = 5_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = gitCommandLines().filter((cmd) => cmd.includes(`:${port}/`));
    if (!left.length || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface GitHttpServer {
  readonly port: number;
  /** http://127.0.0.1:<port>/<name> */
  url(name: string): string;
  /** Command lines of git processes seen while requests were served. */
  readonly processes: string[];
  /** Authorization headers the server received (decoded), to prove what the client sent. */
  readonly authorizations: string[];
  close(): Promise<void>;
}

/**
 * Serves bare repositories under `root` with `git http-backend` as a CGI program. Every request
 * must carry Basic auth username:token, otherwise 401 with a Basic challenge.
 */
export async function startGitHttpServer(options: { root: string; username: string; token: string }): Promise<GitHttpServer> {
  const backend = join(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-http-backend');
  const processes: string[] = [];
  const authorizations: string[] = [];
  const expected = `Basic ${Buffer.from(`${options.username}:${options.token}`).toString('base64')}`;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    processes.push(...gitCommandLines());
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Basic ')) authorizations.push(Buffer.from(auth.slice(6), 'base64').toString('utf8'));
    if (auth !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('unauthorized\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const env: NodeJS.ProcessEnv = {
      ...cleanEnv(),
      GIT_PROJECT_ROOT: options.root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: decodeURIComponent(url.pathname),
      REQUEST_METHOD: req.method ?? 'GET',
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: options.username,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    };
    const cgi = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) { res.write(chunk); return; }
      head = Buffer.concat([head, chunk]);
      const text = head.toString('latin1');
      const crlf = text.indexOf('\r\n\r\n');
      const lf = text.indexOf('\n\n');
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end));
    });
    cgi.on('close', () => {
      if (!headersDone) res.writeHead(502);
      res.end();
    });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    processes,
    authorizations,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A TCP server that accepts connections and never answers: a stalled remote. */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/** The SourceError a promise rejects with (fails the test if it resolves or throws something else). */
export async function failure(promise: Promise<unknown>): Promise<SourceError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(SourceError);
    return e as SourceError;
  }
  throw new Error('expected a SourceError');
}
