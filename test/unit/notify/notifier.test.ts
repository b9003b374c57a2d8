/**
 * Notifications against a loopback receiver that records every request: the generic webhook's
 * JSON, Slack's text, GitHub's commit statuses (path, token, state, context), retries with
 * backoff on 503 and no answer, no retry on a refusal; tokens never in the log.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { realClock } from '../../../engine/clock.js';
import { createLogger } from '../../../engine/log.js';
import { githubRepoOf, Notifier, type Receiver } from '../../../engine/notify/index.js';

interface Recorded { method: string; path: string; headers: IncomingMessage['headers']; body: any }

const servers: Server[] = [];
afterEach(() => { for (const s of servers.splice(0)) s.close(); });

/** A receiver on 127.0.0.1 that answers `answer(path, nth)` (default 200) and records requests. */
async function receiver(answer: (path: string, n: number) => number = () => 200) {
  const seen: Recorded[] = [];
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = (counts.get(path) ?? 0) + 1;
      counts.set(path, n);
      seen.push({ method: req.method ?? '', path, headers: req.headers, body: JSON.parse(body || 'null') });
      const code = answer(path, n);
      if (code === 0) { req.socket.destroy(); return; }
      res.writeHead(code).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function logger() {
  let text = '';
  const log = createLogger({ level: 'info', format: 'json', stream: new Writable({ write(c, _e, done) { text += String(c); done(); } }) });
  return { log, text: () => text };
}

const SHA = 'a'.repeat(40);

describe('notifications', () => {
  it('sends each event to the receivers that want it: webhook JSON with its token, Slack text, GitHub statuses per commit and per released workload', async () => {
    const r = await receiver();
    const { log, text } = logger();
    const receivers: Receiver[] = [
      { type: 'webhook', url: `${r.url}/hook`, token: 'hook-token-123' },
      { type: 'slack', url: `${r.url}/slack/T000/B000/secretpart`, events: ['failed', 'release'] },
      { type: 'github', repo: 'acme/shop', token: 'ghp_secret456', apiUrl: `${r.url}/api/` },
    ];
    const n = new Notifier({ receivers, clock: realClock, log });
    n.notify({ type: 'applied', app: 'team-a/shop', commit: SHA, message: 'applied commit aaaaaaaaaaaa: 1 created, 0 updated, 0 pruned' });
    n.notify({ type: 'release', app: 'team-a/shop', commit: SHA, workload: 'CloneSet team-a/web', reason: 'ReleaseStepAdvanced', message: 'CloneSet team-a/web: step 2/3: 50%' });
    n.notify({ type: 'release', app: 'team-a/shop', commit: SHA, workload: 'CloneSet team-a/web', reason: 'ReleaseCompleted', message: 'CloneSet team-a/web: completed' });
    n.notify({ type: 'failed', app: 'team-a/shop', commit: SHA, message: 'commit aaaaaaaaaaaa is invalid (1 error(s))' });
    await n.flushed();
    const hook = r.seen.filter((x) => x.path === '/hook');
    expect(hook.map((x) => x.body.type)).toEqual(['applied', 'release', 'release', 'failed']);
    expect(hook[0]).toMatchObject({ method: 'POST', headers: { authorization: 'Bearer hook-token-123', 'content-type': 'application/json' }, body: { app: 'team-a/shop', commit: SHA } });
    const slack = r.seen.filter((x) => x.path.startsWith('/slack/'));
    expect(slack.map((x) => x.body.text)).toEqual([
      ':arrow_forward: *team-a/shop* CloneSet team-a/web: CloneSet team-a/web: step 2/3: 50%',
      ':white_check_mark: *team-a/shop* CloneSet team-a/web: CloneSet team-a/web: completed',
      ':x: *team-a/shop* failed `aaaaaaaaaaaa`: commit aaaaaaaaaaaa is invalid (1 error(s))',
    ]);
    const gh = r.seen.filter((x) => x.path.startsWith('/api/'));
    expect(gh.every((x) => x.path === `/api/repos/acme/shop/statuses/${SHA}` && x.headers.authorization === 'Bearer ghp_secret456')).toBe(true);
    expect(gh.map((x) => [x.body.state, x.body.context])).toEqual([
      ['success', 'kgitops/team-a/shop'],
      ['pending', 'kgitops/team-a/shop/release/team-a/web'],
      ['success', 'kgitops/team-a/shop/release/team-a/web'],
      ['failure', 'kgitops/team-a/shop'],
    ]);
    for (const x of gh) expect(x.body.description.length).toBeLessThanOrEqual(140);
    for (const secret of ['hook-token-123', 'ghp_secret456', 'secretpart']) expect(text()).not.toContain(secret);
  });

  it('retries a 503 and a dropped connection with backoff, in order; a refusal (401) is not retried', async () => {
    const r = await receiver((path, n) => (path === '/flaky' ? (n === 1 ? 503 : n === 2 ? 0 : 200) : path === '/refuses' ? 401 : 200));
    const { log, text } = logger();
    const n = new Notifier({
      receivers: [{ type: 'webhook', url: `${r.url}/flaky` }, { type: 'webhook', url: `${r.url}/refuses`, token: 'tok-789' }],
      clock: realClock, log, baseDelayMs: 50,
    });
    const t0 = performance.now();
    n.notify({ type: 'applied', app: 'a/b', commit: SHA, message: 'one' });
    n.notify({ type: 'applied', app: 'a/b', commit: SHA, message: 'two' });
    await n.flushed();
    const flaky = r.seen.filter((x) => x.path === '/flaky');
    // 'one' three times (503, dropped, 200), then 'two' once: order kept.
    expect(flaky.map((x) => x.body.message)).toEqual(['one', 'one', 'one', 'two']);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50 + 100);
    expect(r.seen.filter((x) => x.path === '/refuses')).toHaveLength(2);
    expect(text()).toMatch(/notification not delivered: HTTP 401 \(not retried/);
    expect(text()).toMatch(/retrying in/);
    expect(text()).not.toContain('tok-789');
  });

  it('gives up after the last attempt and says so', async () => {
    const r = await receiver(() => 500);
    const { log, text } = logger();
    const n = new Notifier({ receivers: [{ type: 'webhook', url: `${r.url}/down` }], clock: realClock, log, baseDelayMs: 10, attempts: 3 });
    n.notify({ type: 'failed', app: 'a/b', message: 'x' });
    await n.flushed();
    expect(r.seen).toHaveLength(3);
    expect(text()).toMatch(/not delivered: HTTP 500 after 3 attempt/);
  });

  it('finds owner/name of a github.com repo URL in its forms', () => {
    expect(githubRepoOf('https://github.com/acme/shop.git')).toBe('acme/shop');
    expect(githubRepoOf('https://x-access-token@github.com/acme/shop')).toBe('acme/shop');
    expect(githubRepoOf('git@github.com:acme/shop.git')).toBe('acme/shop');
    expect(githubRepoOf('ssh://git@github.com/acme/shop')).toBe('acme/shop');
    expect(githubRepoOf('https://gitlab.com/acme/shop')).toBeUndefined();
  });
});
