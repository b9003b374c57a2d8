/**
 * Replayed deliveries are answered but not reported again, and only a push that moved the
 * watched ref makes `kgitops sync` reconcile: the decision (pushDecision) and the wiring
 * (reconcileOnPush, as sync.ts hands it to the server) over real HTTP on 127.0.0.1.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { reconcileOnPush } from '../../../engine/cli/sync.js';
import { pushDecision, startWebhookServer, type PushEvent, type WebhookServer, type WebhookServerOptions } from '../../../engine/source/index.js';
import { SECRET, sign } from './webhook-wire.js';

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const OTHER_SHA = 'b2c3d4e5f60718293a4b5c6d7e8f901234567890';

const servers: WebhookServer[] = [];
const logs: string[] = [];
const signatures: string[] = [];
let events: PushEvent[] = [];
let clock = 1_700_000_000_000;

async function start(options: Partial<WebhookServerOptions> = {}): Promise<WebhookServer> {
  const server = await startWebhookServer({
    port: 0,
    secret: SECRET,
    onPush: (event) => { events.push(event); },
    log: (line) => logs.push(line),
    now: () => clock,
    ...options,
  });
  servers.push(server);
  return server;
}

afterEach(async () => {
  events = [];
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => {
  const all = logs.join('\n');
  expect(all).not.toContain(SECRET);
  for (const signature of signatures) expect(all).not.toContain(signature.slice('sha256='.length));
  // Bodies carry this marker; no log line may.
  expect(all).not.toContain('body-marker');
});

interface Reply { status: number; message: string }

async function deliver(server: WebhookServer, path: string, body: string, headers: Record<string, string>): Promise<Reply> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const json = (await res.json()) as { message: string };
  return { status: res.status, message: json.message };
}

function githubPush(ref: string, after: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ref, after, repository: { full_name: 'org/shop' }, marker: 'body-marker', ...extra });
}

function github(server: WebhookServer, body: string, delivery?: string, signature = sign(body)): Promise<Reply> {
  signatures.push(signature);
  return deliver(server, '/hooks/github', body, {
    'x-github-event': 'push',
    'x-hub-signature-256': signature,
    ...(delivery !== undefined ? { 'x-github-delivery': delivery } : {}),
  });
}

/** onPush runs after the response; let it run. */
async function settled(): Promise<void> {
  await new Promise((r) => setTimeout(r, 20));
}

describe('replayed deliveries', () => {
  it('GitHub: the same delivery id is ignored, whatever the body; so is the same signature and body under a new id', async () => {
    const server = await start();
    const first = githubPush('refs/heads/main', SHA);
    expect(await github(server, first, 'd-0001')).toEqual({ status: 202, message: 'push accepted' });

    const sameId = await github(server, githubPush('refs/heads/main', OTHER_SHA), 'd-0001');
    expect(sameId).toEqual({ status: 200, message: 'duplicate: delivery d-0001 was already received; ignored' });

    const sameBody = await github(server, first, 'd-0002');
    expect(sameBody).toEqual({ status: 200, message: 'duplicate: a delivery with the same signature and body was already received; ignored' });
    expect(await github(server, first)).toMatchObject({ status: 200, message: expect.stringMatching(/^duplicate: /) });

    // A new delivery with a different body is a new push.
    expect(await github(server, githubPush('refs/heads/main', OTHER_SHA), 'd-0003')).toEqual({ status: 202, message: 'push accepted' });
    await settled();
    expect(events.map((e) => e.sha)).toEqual([SHA, OTHER_SHA]);
    expect(logs.filter((l) => l.includes('ignored a duplicate'))).toHaveLength(3);
  });

  it('GitLab: X-Gitlab-Event-UUID, else Idempotency-Key; generic: X-Delivery-Id', async () => {
    const server = await start();
    const gitlab = (body: string, headers: Record<string, string>) => deliver(server, '/hooks/gitlab', body, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET, ...headers });
    const push = (after: string) => JSON.stringify({ ref: 'refs/heads/main', after, project: { path_with_namespace: 'group/shop' }, marker: 'body-marker' });
    expect((await gitlab(push(SHA), { 'x-gitlab-event-uuid': '6f1c1b0e-1111-4c55-9d3a-0a0b0c0d0e0f' })).status).toBe(202);
    expect(await gitlab(push(OTHER_SHA), { 'x-gitlab-event-uuid': '6f1c1b0e-1111-4c55-9d3a-0a0b0c0d0e0f' })).toEqual({ status: 200, message: 'duplicate: delivery 6f1c1b0e-1111-4c55-9d3a-0a0b0c0d0e0f was already received; ignored' });
    const third = push('c3d4e5f60718293a4b5c6d7e8f90123456789012');
    expect((await gitlab(third, { 'idempotency-key': 'retry-key-1' })).status).toBe(202);
    expect((await gitlab(push('d4e5f60718293a4b5c6d7e8f9012345678901234'), { 'idempotency-key': 'retry-key-1' })).message).toBe('duplicate: delivery retry-key-1 was already received; ignored');
    // The same body (the token is the same for every delivery) under a new id.
    expect((await gitlab(third, { 'x-gitlab-event-uuid': 'another-uuid' })).message).toMatch(/same signature and body/);

    const generic = (body: string, id?: string) => {
      const signature = sign(body);
      signatures.push(signature);
      return deliver(server, '/hooks/generic', body, { 'x-signature-256': signature, ...(id ? { 'x-delivery-id': id } : {}) });
    };
    expect((await generic(JSON.stringify({ ref: 'refs/heads/main', nonce: 1 }), 'ci-41')).status).toBe(202);
    expect((await generic(JSON.stringify({ ref: 'refs/heads/main', nonce: 2 }), 'ci-41')).status).toBe(200);
    expect((await generic(JSON.stringify({ ref: 'refs/heads/main', nonce: 3 }))).status).toBe(202);
    expect((await generic(JSON.stringify({ ref: 'refs/heads/main', nonce: 3 }))).status).toBe(200);
    await settled();
    expect(events).toHaveLength(4);
  });

  it('only verified, well-formed deliveries are remembered: a forged or malformed one cannot poison an id', async () => {
    const server = await start();
    const body = githubPush('refs/heads/main', SHA);
    expect((await github(server, body, 'd-0100', sign(body, 'not-the-secret'))).status).toBe(401);
    const malformed = '{"ref": ';
    expect((await github(server, malformed, 'd-0100')).status).toBe(400);
    expect((await github(server, malformed, 'd-0100')).status).toBe(400);
    expect(await github(server, body, 'd-0100')).toEqual({ status: 202, message: 'push accepted' });
    // A delivery id that could carry anything into a log line is refused.
    const odd = await github(server, githubPush('refs/heads/main', OTHER_SHA), 'd 0101\tforged');
    expect(odd.status).toBe(400);
    expect(odd.message).toBe('X-GitHub-Delivery must be 1 to 128 characters of A-Z a-z 0-9 . _ : -');
    await settled();
    expect(events).toHaveLength(1);
  });

  it('copies of one delivery arriving together are reported once', async () => {
    const server = await start();
    const body = githubPush('refs/heads/main', SHA);
    const replies = await Promise.all(Array.from({ length: 8 }, () => github(server, body, 'd-0200')));
    expect(replies.filter((r) => r.status === 202)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 200 && r.message.startsWith('duplicate: '))).toHaveLength(7);
    await settled();
    expect(events).toHaveLength(1);
  });

  it('the memory is bounded in count and in time', async () => {
    const server = await start({ replay: { maxDeliveries: 2, windowMs: 60_000 } });
    const bodies = ['1111111', '2222222', '3333333'].map((sha) => githubPush('refs/heads/main', sha));
    for (const [i, body] of bodies.entries()) expect((await github(server, body, `d-03${i}`)).status).toBe(202);
    // Three deliveries, room for two: the first is forgotten, the last is not.
    expect((await github(server, bodies[2]!, 'd-032')).status).toBe(200);
    expect((await github(server, bodies[0]!, 'd-030')).status).toBe(202);

    const late = githubPush('refs/heads/main', '4444444');
    expect((await github(server, late, 'd-040')).status).toBe(202);
    clock += 59_000;
    expect((await github(server, late, 'd-040')).status).toBe(200);
    clock += 2_000;
    expect((await github(server, late, 'd-040')).status).toBe(202);
    await settled();
    expect(events.map((e) => e.sha)).toEqual(['1111111', '2222222', '3333333', '1111111', '4444444', '4444444']);
  });
});

describe('pushDecision', () => {
  const push = (ref: string | undefined, extra: Partial<PushEvent> = {}): PushEvent => ({ provider: 'github', ...(ref ? { ref } : {}), sha: SHA, ...extra });

  it('a push that moved the watched branch, tag or full ref reconciles', () => {
    expect(pushDecision(push('refs/heads/main'), 'main')).toEqual({ reconcile: true });
    expect(pushDecision(push('refs/heads/main'), 'refs/heads/main')).toEqual({ reconcile: true });
    expect(pushDecision(push('refs/tags/v1.2.0'), 'v1.2.0')).toEqual({ reconcile: true });
    // The generic form may name no ref: fetching is the safe answer.
    expect(pushDecision({ provider: 'generic' }, 'main')).toEqual({ reconcile: true });
  });

  it('a push to another ref does not, and says why', () => {
    expect(pushDecision(push('refs/heads/feature'), 'main')).toEqual({ reconcile: false, reason: 'the push was to refs/heads/feature; this engine follows main' });
    expect(pushDecision(push('refs/heads/main-old'), 'main').reconcile).toBe(false);
    expect(pushDecision(push('refs/tags/main'), 'refs/heads/main').reconcile).toBe(false);
    expect(pushDecision(push('refs/heads/main'), SHA).reconcile).toBe(false);
  });

  it('a deletion never does, of the watched ref or any other', () => {
    const deleted = { deleted: true, sha: undefined };
    expect(pushDecision(push('refs/heads/main', deleted), 'main')).toEqual({ reconcile: false, reason: expect.stringMatching(/^the push deleted refs\/heads\/main; /) });
    expect(pushDecision(push('refs/heads/feature', deleted), 'main').reconcile).toBe(false);
    expect(pushDecision({ provider: 'generic', deleted: true }, 'main').reconcile).toBe(false);
  });
});

describe('kgitops sync wiring: reconcileOnPush behind a real server', () => {
  it('reconciles on a push to the watched ref only; other pushes are logged with the reason', async () => {
    const triggers: string[] = [];
    const ignored: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const server = await start({ onPush: reconcileOnPush('main', (reason) => triggers.push(reason), { info: (fields, message) => ignored.push({ fields, message }) }) });

    expect((await github(server, githubPush('refs/heads/feature', SHA))).status).toBe(202);
    const deletion = JSON.stringify({ ref: 'refs/heads/main', after: '0'.repeat(40), deleted: true, repository: { full_name: 'org/shop' } });
    expect((await github(server, deletion)).status).toBe(202);
    const gitlabDeletion = JSON.stringify({ ref: 'refs/heads/main', after: '0'.repeat(40), project: { path_with_namespace: 'group/shop' } });
    expect((await deliver(server, '/hooks/gitlab', gitlabDeletion, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET })).status).toBe(202);
    await settled();
    expect(triggers).toEqual([]);
    expect(ignored.map((l) => l.message)).toEqual([
      'webhook push ignored: the push was to refs/heads/feature; this engine follows main',
      'webhook push ignored: the push deleted refs/heads/main; a deletion has nothing to apply, the last applied commit keeps running',
      'webhook push ignored: the push deleted refs/heads/main; a deletion has nothing to apply, the last applied commit keeps running',
    ]);
    expect(ignored.map((l) => l.fields)).toEqual([
      { provider: 'github', ref: 'refs/heads/feature' },
      { provider: 'github', ref: 'refs/heads/main' },
      { provider: 'gitlab', ref: 'refs/heads/main' },
    ]);

    expect((await github(server, githubPush('refs/heads/main', OTHER_SHA))).status).toBe(202);
    await settled();
    expect(triggers).toEqual(['github push to refs/heads/main']);
    expect(ignored).toHaveLength(3);
    const logged = JSON.stringify(ignored);
    expect(logged).not.toContain(SECRET);
    for (const signature of signatures) expect(logged).not.toContain(signature.slice('sha256='.length));
  });
});
