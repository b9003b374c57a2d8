/**
 * The webhook against hostile senders, over real loopback sockets: where it binds, what it
 * refuses from the headers alone (before any body byte), body and connection caps, and the
 * server's memory (measured in a process of its own) under 200 slow connections.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../engine/config.js';
import { DEFAULT_WEBHOOK_HOST, MAX_CONNECTIONS, startWebhookServer, type PushEvent, type WebhookServer, type WebhookServerOptions } from '../../../engine/source/index.js';
import type { ChildReply, MemorySample } from './webhook-server-child.js';
import { SECRET, eventually, open, requestHead, sign, until, untilServerCloses } from './webhook-wire.js';

const SHA = '1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d';
const MiB = 1024 * 1024;

const servers: WebhookServer[] = [];
const logs: string[] = [];
/** Every signature this file sent: none may reach a log line. */
const signatures: string[] = [];
let events: PushEvent[] = [];

async function start(options: Partial<WebhookServerOptions> = {}): Promise<WebhookServer> {
  const server = await startWebhookServer({
    port: 0,
    secret: SECRET,
    onPush: (event) => { events.push(event); },
    log: (line) => logs.push(line),
    // Long on purpose: a server that waited for a body would not answer within a test.
    timeouts: { headersMs: 60_000, requestMs: 60_000 },
    ...options,
  });
  servers.push(server);
  return server;
}

function signed(body: string): string {
  const signature = sign(body);
  signatures.push(signature);
  return signature;
}

async function signedPush(server: WebhookServer, ref = 'refs/heads/main', sha = SHA): Promise<number> {
  const body = JSON.stringify({ ref, after: sha, repository: { full_name: 'org/shop' } });
  const res = await fetch(`${server.url}/hooks/github`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signed(body) },
    body,
  });
  await res.text();
  return res.status;
}

afterEach(async () => {
  events = [];
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => {
  const all = logs.join('\n');
  expect(all).not.toContain(SECRET);
  for (const signature of signatures) expect(all).not.toContain(signature.slice('sha256='.length));
});

describe('bind address', () => {
  it('the server listens on 127.0.0.1 unless told otherwise', async () => {
    expect(DEFAULT_WEBHOOK_HOST).toBe('127.0.0.1');
    const server = await start();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    // 127.0.0.2 is this host too: a server bound to 0.0.0.0 would answer there.
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.2');
      socket.once('connect', () => { socket.destroy(); resolve('connected'); });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(await signedPush(server)).toBe(202);
  });

  it('kgitops.yaml and flags default webhook.host to 127.0.0.1; the flag wins over the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kgitops-webhook-config-'));
    expect(loadConfig({ repo: '.', webhookPort: '9090' }, dir).webhook).toEqual({ port: 9090, host: '127.0.0.1', secretEnv: 'KGITOPS_WEBHOOK_SECRET' });
    writeFileSync(join(dir, 'kgitops.yaml'), 'repo: .\nwebhook: { port: 9090, host: 0.0.0.0 }\n');
    expect(loadConfig({}, dir).webhook?.host).toBe('0.0.0.0');
    expect(loadConfig({ webhookHost: '127.0.0.1' }, dir).webhook?.host).toBe('127.0.0.1');
  });

  it('a host that is not an address, or a host without a port, is a config error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kgitops-webhook-config-'));
    writeFileSync(join(dir, 'kgitops.yaml'), 'repo: .\nwebhook: { port: 9090, host: 42 }\n');
    expect(() => loadConfig({}, dir)).toThrow(ConfigError);
    expect(() => loadConfig({}, dir)).toThrow('webhook.host must be an address to listen on, got 42');
    expect(() => loadConfig({ repo: '.', webhookPort: '9090', webhookHost: '' })).toThrow(/webhook.host must be an address/);
    expect(() => loadConfig({ repo: '.', webhookHost: '0.0.0.0' })).toThrow(/no webhook port/);
  });
});

describe('refused from the headers alone', () => {
  it('a request without its provider\'s signature header gets 401 while its declared body is still unsent', async () => {
    const server = await start();
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['/hooks/github', { 'X-GitHub-Event': 'push' }, /^missing X-Hub-Signature-256: /],
      ['/hooks/github', { 'X-GitHub-Event': 'push', 'X-Signature-256': sign('{}') }, /^missing X-Hub-Signature-256: /],
      ['/hooks/gitlab', { 'X-Gitlab-Event': 'Push Hook' }, /^missing X-Gitlab-Token: /],
      ['/hooks/generic', {}, /^missing X-Signature-256: /],
      // Malformed or wrong credentials that the headers already give away.
      ['/hooks/github', { 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': 'sha256=abc' }, /^malformed X-Hub-Signature-256: /],
      ['/hooks/generic', { 'X-Signature-256': `sha1=${'0'.repeat(40)}` }, /^malformed X-Signature-256: /],
      ['/hooks/gitlab', { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': `${SECRET}x` }, /^wrong X-Gitlab-Token: /],
    ];
    for (const [path, headers, message] of cases) {
      const socket = await open(server.port);
      // 100 bytes declared, none sent: only a server that judged the headers can answer.
      socket.write(requestHead(path, { 'Content-Type': 'application/json', 'Content-Length': 100, ...headers }));
      const res = await untilServerCloses(socket);
      expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
      expect(res.headers.connection).toBe('close');
      expect(JSON.parse(res.body)).toEqual({ ok: false, message: expect.stringMatching(message) });
    }
    expect(events).toEqual([]);
    expect(logs.filter((l) => l.includes('before its body'))).toHaveLength(cases.length);
  });

  it('an unknown path, another method or a declared body over the cap is answered without the body too', async () => {
    const server = await start({ maxBodyBytes: 1024 });
    const cases: Array<[string, number]> = [
      [requestHead('/hooks/bitbucket', { 'Content-Length': 100 }), 404],
      [requestHead('/hooks/github', { 'Content-Length': 100 }).replace(/^POST/, 'PUT'), 405],
      [requestHead('/hooks/generic', { 'Content-Length': 1025, 'X-Signature-256': sign('x') }), 413],
    ];
    for (const [head, status] of cases) {
      const socket = await open(server.port);
      socket.write(head);
      const res = await untilServerCloses(socket);
      expect(res.status, head.split('\r\n')[0]).toBe(status);
      expect(res.headers.connection).toBe('close');
    }
  });

  it('Expect: 100-continue invites the body only once the signature header is there', async () => {
    const server = await start();
    const unsigned = await open(server.port);
    unsigned.write(requestHead('/hooks/generic', { 'Content-Length': 2, Expect: '100-continue' }));
    const refused = await untilServerCloses(unsigned);
    expect(refused.status).toBe(401);
    expect(refused.text).not.toContain('100 Continue');

    const body = JSON.stringify({ ref: 'refs/heads/main', after: SHA });
    const socket = await open(server.port);
    socket.write(requestHead('/hooks/generic', { 'Content-Length': Buffer.byteLength(body), Expect: '100-continue', 'X-Signature-256': signed(body) }));
    expect(await until(socket, '\r\n\r\n')).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    socket.write(body);
    expect(await until(socket, 'push accepted')).toMatch(/^HTTP\/1\.1 202 /);
    socket.destroy();
    await eventually(() => events.length === 1, 'the push was reported');
    expect(events).toEqual([{ provider: 'generic', ref: 'refs/heads/main', sha: SHA }]);
  });
});

describe('caps', () => {
  it('a chunked body over the cap gets 413 and the connection is closed; a body within the cap still works', async () => {
    const server = await start({ maxBodyBytes: 1024 });
    const socket = await open(server.port);
    socket.write(requestHead('/hooks/generic', { 'Transfer-Encoding': 'chunked', 'X-Signature-256': sign('whatever') }));
    const chunk = 'x'.repeat(600);
    socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const res = await untilServerCloses(socket);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).message).toBe('the body is larger than 1024 bytes');

    const body = JSON.stringify({ ref: 'refs/heads/main', pad: 'y'.repeat(900) });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1024);
    const ok = await fetch(`${server.url}/hooks/generic`, { method: 'POST', headers: { 'x-signature-256': signed(body) }, body });
    expect(ok.status).toBe(202);
  });

  it(`connections over the cap (default ${MAX_CONNECTIONS}) are closed at once; signed pushes work again once under it`, async () => {
    expect(MAX_CONNECTIONS).toBe(64);
    const server = await start({ maxConnections: 4 });
    // Holders: headers that never end, which the (long) headers timeout would wait for.
    const holders: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = await open(server.port);
      socket.write('POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      socket.on('error', () => undefined);
      holders.push(socket);
    }
    await eventually(async () => (await server.openConnections()) === 4, 'the server counts 4 open connections');

    const extra = await open(server.port);
    extra.write(requestHead('/hooks/generic', { 'Content-Length': 0, 'X-Signature-256': sign('') }));
    const refused = await untilServerCloses(extra);
    expect(refused.text).toBe('');
    expect(refused.status).toBeUndefined();
    await expect(signedPush(server)).rejects.toThrow();
    expect(await server.openConnections()).toBe(4);

    holders.splice(0, 2).forEach((s) => s.destroy());
    await eventually(async () => (await server.openConnections()) <= 2, 'the server saw 2 holders go');
    expect(await signedPush(server, 'refs/heads/main', SHA)).toBe(202);
    expect(await signedPush(server, 'refs/heads/main', SHA.replace('1c', '2c'))).toBe(202);
    await eventually(() => events.length === 2, 'both pushes were reported');
    expect(logs.some((l) => /closed \d+ connection\(s\) at once: 4 were already open/.test(l))).toBe(true);
    holders.forEach((s) => s.destroy());
  });

  it('rejects nonsensical limits with the option named', async () => {
    await expect(start({ maxConnections: 0 })).rejects.toThrow('webhook maxConnections must be a positive integer, got 0');
    await expect(start({ timeouts: { headersMs: 5000, requestMs: 1000 } })).rejects.toThrow(/requestMs \(1000\) must be at least timeouts.headersMs \(5000\)/);
  });
});

/**
 * The server in a child process, so that its memory is measured without the test's own 200
 * client sockets; timeouts short so that slow senders are cut off within seconds.
 */
/** After the flood: no connection is left open, and a signed push is still accepted and reported. */
async function expectServesAfterwards(server: ChildServer): Promise<void> {
  await eventually(async () => (await server.peak()).openConnections === 0, 'the server has no connection left');
  const body = JSON.stringify({ ref: 'refs/heads/main', after: SHA });
  const res = await fetch(`http://127.0.0.1:${server.port}/hooks/github`, { method: 'POST', headers: { 'x-github-event': 'push', 'x-hub-signature-256': signed(body) }, body });
  expect(res.status).toBe(202);
  await eventually(async () => (await server.peak()).pushes.length === 1, 'the push was reported');
}

class ChildServer {
  private readonly replies: ChildReply[] = [];
  private waiting?: () => void;
  port = 0;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: ChildReply) => {
      this.replies.push(reply);
      this.waiting?.();
    });
  }

  static async start(options: Partial<WebhookServerOptions>): Promise<ChildServer> {
    const child = fork(join(import.meta.dirname, 'webhook-server-child.ts'), [JSON.stringify(options)], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      env: { ...process.env, WEBHOOK_SECRET: SECRET },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const server = new ChildServer(child);
    const ready = await server.next('ready');
    server.port = ready.port;
    return server;
  }

  private async next<T extends ChildReply['type']>(type: T): Promise<Extract<ChildReply, { type: T }>> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const i = this.replies.findIndex((r) => r.type === type);
      if (i >= 0) return this.replies.splice(i, 1)[0] as Extract<ChildReply, { type: T }>;
      if (this.child.exitCode !== null) throw new Error(`the webhook child exited (${this.child.exitCode}) before it sent ${type}`);
      if (Date.now() > deadline) throw new Error(`the webhook child sent no ${type} within 30 s`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  async baseline(): Promise<MemorySample> {
    this.child.send({ type: 'baseline' });
    return (await this.next('baseline')).memory;
  }

  async peak(): Promise<Extract<ChildReply, { type: 'peak' }>> {
    this.child.send({ type: 'peak' });
    return this.next('peak');
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'close' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

interface SlowClient {
  readonly closed: Promise<string>;
  stop(): void;
}

/** Sends `head` and `burst` at once, then `drip` every 250 ms until the server closes the connection. */
function slowClient(port: number, head: string, burst: Buffer, drip: Buffer): SlowClient {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  let timer: NodeJS.Timeout | undefined;
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
  socket.on('error', () => undefined);
  socket.once('connect', () => {
    socket.write(head);
    if (burst.length) socket.write(burst);
    timer = setInterval(() => { if (socket.writable) socket.write(drip); }, 250);
  });
  const closed = new Promise<string>((resolve) => socket.once('close', () => {
    clearInterval(timer);
    resolve(received);
  }));
  return { closed, stop: () => { clearInterval(timer); socket.destroy(); } };
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

describe('memory under 200 slow connections (the server in a process of its own)', () => {
  const timeouts = { headersMs: 2_000, requestMs: 3_000, keepAliveMs: 1_000 };
  let child: ChildServer | undefined;
  let clients: SlowClient[] = [];
  afterEach(async () => {
    clients.forEach((c) => c.stop());
    clients = [];
    await child?.close();
    child = undefined;
  });

  it('200 slow unsigned requests: each is refused or cut off, memory stays bounded, a signed push works after', async () => {
    // A cap above 200, so that every connection reaches the request handling, not only the cap.
    child = await ChildServer.start({ maxConnections: 256, timeouts });
    const before = await child.baseline();
    // 100 declare a 1 MiB body (the cap), send 768 KiB of it at once and then trickle: a server
    // that read bodies before signatures would hold ~75 MiB. 100 more never finish their headers.
    const burst = Buffer.alloc(768 * 1024, 0x20);
    const drip = Buffer.alloc(1024, 0x20);
    for (let i = 0; i < 100; i++) {
      clients.push(slowClient(child.port, requestHead('/hooks/github', { 'X-GitHub-Event': 'push', 'Content-Type': 'application/json', 'Content-Length': MiB }), burst, drip));
    }
    for (let i = 0; i < 100; i++) {
      clients.push(slowClient(child.port, 'POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n', Buffer.alloc(0), Buffer.from(`X-Pad-${i}: x\r\n`)));
    }
    const received = await Promise.race([
      Promise.all(clients.map((c) => c.closed)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not every slow connection was closed within 40 s')), 40_000)),
    ]);
    const bodySenders = received.slice(0, 100);
    const headerTricklers = received.slice(100);
    // Refused from the headers, not cut off by a timeout (which answers 408). The server closes
    // with the sender's bytes unread, so the kernel may reset the connection before a client
    // busy sending reads its 401: an answer may be lost, never a different one given.
    const refused = bodySenders.filter((text) => text.startsWith('HTTP/1.1 401 ')).length;
    expect(bodySenders.filter((text) => text !== '' && !text.startsWith('HTTP/1.1 401 '))).toEqual([]);
    expect(refused).toBeGreaterThan(0);
    expect(headerTricklers.filter((text) => text !== '' && !text.startsWith('HTTP/1.1 408 '))).toEqual([]);

    const after = await child.peak();
    const rss = after.memory.rss - before.rss;
    const buffers = after.memory.arrayBuffers - before.arrayBuffers;
    console.log(`200 slow unsigned connections: ${refused} of 100 body senders read their 401; peak RSS +${mib(rss)}, heap +${mib(after.memory.heapUsed - before.heapUsed)}, buffers +${mib(buffers)}`);
    // Measured: about +5 MiB of buffers and +6 MiB RSS; a server that reads the body first
    // peaks at about +87 MiB of both.
    expect(buffers).toBeLessThan(8 * MiB);
    expect(rss).toBeLessThan(32 * MiB);
    await expectServesAfterwards(child);
  }, 90_000);

  it('200 slow requests with a wrong signature trickling a body: capped connections, cut off at the request timeout, memory bounded', async () => {
    child = await ChildServer.start({ timeouts });
    const before = await child.baseline();
    const burst = Buffer.alloc(64 * 1024, 0x20);
    const drip = Buffer.alloc(1024, 0x20);
    const head = requestHead('/hooks/github', { 'X-GitHub-Event': 'push', 'Content-Length': MiB, 'X-Hub-Signature-256': sign('another body') });
    for (let i = 0; i < 200; i++) clients.push(slowClient(child.port, head, burst, drip));
    const received = await Promise.race([
      Promise.all(clients.map((c) => c.closed)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not every slow connection was closed within 40 s')), 40_000)),
    ]);
    const answered = received.filter((text) => text !== '');
    // Over the cap: closed at once without a word; under it: held until the request timeout.
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.length).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(answered.every((text) => text.startsWith('HTTP/1.1 408 '))).toBe(true);

    const after = await child.peak();
    const rss = after.memory.rss - before.rss;
    const buffers = after.memory.arrayBuffers - before.arrayBuffers;
    console.log(`200 slow wrongly signed connections: ${answered.length} held to the timeout, peak RSS +${mib(rss)}, heap +${mib(after.memory.heapUsed - before.heapUsed)}, buffers +${mib(buffers)}`);
    // 64 held bodies of ~70 KiB: measured about +5 MiB of buffers and +7 MiB RSS; without the
    // connection cap all 200 are held (about +36 MiB of buffers, +44 MiB RSS).
    expect(buffers).toBeLessThan(16 * MiB);
    expect(rss).toBeLessThan(32 * MiB);
    await expectServesAfterwards(child);
  }, 90_000);
});
