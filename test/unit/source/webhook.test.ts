/**
 * The push webhook over real HTTP: each provider with right and wrong signatures, ping,
 * ignored events, 404/405/413, malformed bodies; and verifySignature on its own.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pushMatchesRef, startWebhookServer, verifySignature, type PushEvent, type WebhookServer } from '../../../engine/source/index.js';

const SECRET = 'webhook-Secret-0a1b2c3d4e5f';
const SHA = '9f8e7d6c5b4a39281706f5e4d3c2b1a098765432';

let server: WebhookServer;
let events: PushEvent[];
let logs: string[];
const responses: string[] = [];
let failNextPush = false;

beforeAll(async () => {
  logs = [];
  server = await startWebhookServer({
    port: 0,
    host: '127.0.0.1',
    secret: SECRET,
    onPush: (event) => {
      events.push(event);
      if (failNextPush) {
        failNextPush = false;
        throw new Error('the reconciler is busy');
      }
    },
    log: (line) => logs.push(line),
  });
});
afterAll(async () => {
  await server.close();
  // Nothing the server said or logged ever contained the secret.
  expect(responses.join('\n')).not.toContain(SECRET);
  expect(logs.join('\n')).not.toContain(SECRET);
});
beforeEach(() => { events = []; });

function sign(body: string | Buffer, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}, method = 'POST'): Promise<{ status: number; body: { ok: boolean; message: string }; headers: Headers }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: method === 'GET' || method === 'HEAD' ? undefined : body,
  });
  const text = await res.text();
  responses.push(text);
  return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers };
}

/** onPush runs after the response; give it a turn of the event loop. */
async function settled(): Promise<void> {
  await new Promise((r) => setTimeout(r, 20));
}

describe('GitHub', () => {
  const push = JSON.stringify({ ref: 'refs/heads/main', after: SHA, repository: { full_name: 'org/shop' } });

  it('accepts a correctly signed push (202) and reports it', async () => {
    const res = await post('/hooks/github', push, { 'x-github-event': 'push', 'x-hub-signature-256': sign(push) });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ ok: true, message: 'push accepted' });
    await settled();
    expect(events).toEqual([{ provider: 'github', ref: 'refs/heads/main', sha: SHA, repository: 'org/shop' }]);
  });

  it('answers a signed ping with 200 and reports nothing', async () => {
    const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const res = await post('/hooks/github', body, { 'x-github-event': 'ping', 'x-hub-signature-256': sign(body) });
    expect(res.status).toBe(200);
    await settled();
    expect(events).toEqual([]);
  });

  it('rejects wrong, missing, malformed and wrong-length signatures with 401', async () => {
    const cases: Array<Record<string, string>> = [
      { 'x-hub-signature-256': sign(push, 'another-secret') },
      {},
      { 'x-hub-signature-256': 'sha256=abc' },
      { 'x-hub-signature-256': `sha256=${'zz'.repeat(32)}` },
      { 'x-hub-signature-256': sign(push).replace('sha256=', 'sha1=') },
      { 'x-hub-signature-256': `${sign(push)}00` },
      { 'x-hub-signature-256': sign(`${push} `) },
    ];
    for (const signature of cases) {
      const res = await post('/hooks/github', push, { 'x-github-event': 'push', ...signature });
      expect(res.status, JSON.stringify(signature)).toBe(401);
      expect(res.body.message).toMatch(/^(missing|malformed) X-Hub-Signature-256: |^X-Hub-Signature-256 does not match the body: /);
    }
    await settled();
    expect(events).toEqual([]);
  });

  it('reads form-encoded payloads and reports branch deletions', async () => {
    const deletion = JSON.stringify({ ref: 'refs/heads/old', after: '0'.repeat(40), deleted: true, repository: { full_name: 'org/shop' } });
    const form = new URLSearchParams({ payload: deletion }).toString();
    const res = await post('/hooks/github', form, { 'content-type': 'application/x-www-form-urlencoded', 'x-github-event': 'push', 'x-hub-signature-256': sign(form) });
    expect(res.status).toBe(202);
    await settled();
    expect(events).toEqual([{ provider: 'github', ref: 'refs/heads/old', repository: 'org/shop', deleted: true }]);
  });

  it('ignores other events (200) and needs the event header (400)', async () => {
    const body = '{}';
    expect((await post('/hooks/github', body, { 'x-github-event': 'issues', 'x-hub-signature-256': sign(body) })).status).toBe(200);
    expect((await post('/hooks/github', body, { 'x-hub-signature-256': sign(body) })).status).toBe(400);
    await settled();
    expect(events).toEqual([]);
  });

  it('rejects a signed but malformed body with 400', async () => {
    for (const body of ['{"ref": ', '[1,2]', '"text"', JSON.stringify({ ref: 42 }), JSON.stringify({ ref: 'refs/heads/main', after: 'not-a-sha' })]) {
      const res = await post('/hooks/github', body, { 'x-github-event': 'push', 'x-hub-signature-256': sign(body) });
      expect(res.status, body).toBe(400);
    }
    await settled();
    expect(events).toEqual([]);
  });
});

describe('GitLab', () => {
  it('accepts Push Hook and Tag Push Hook with the right token', async () => {
    const pushBody = JSON.stringify({ object_kind: 'push', ref: 'refs/heads/main', after: SHA, project: { path_with_namespace: 'group/shop' } });
    const tagBody = JSON.stringify({ object_kind: 'tag_push', ref: 'refs/tags/v1.2.0', after: SHA, checkout_sha: SHA, project: { path_with_namespace: 'group/shop' } });
    expect((await post('/hooks/gitlab', pushBody, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET })).status).toBe(202);
    expect((await post('/hooks/gitlab', tagBody, { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': SECRET })).status).toBe(202);
    await settled();
    expect(events).toEqual([
      { provider: 'gitlab', ref: 'refs/heads/main', sha: SHA, repository: 'group/shop' },
      { provider: 'gitlab', ref: 'refs/tags/v1.2.0', sha: SHA, repository: 'group/shop' },
    ]);
  });

  it('rejects a wrong, short or missing token with 401', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: SHA });
    for (const token of [`${SECRET}x`, 'x', SECRET.toUpperCase(), undefined]) {
      const headers: Record<string, string> = { 'x-gitlab-event': 'Push Hook' };
      if (token !== undefined) headers['x-gitlab-token'] = token;
      const res = await post('/hooks/gitlab', body, headers);
      expect(res.status).toBe(401);
      expect(res.body.message).toMatch(token === undefined ? /^missing X-Gitlab-Token: / : /^wrong X-Gitlab-Token: /);
    }
    await settled();
    expect(events).toEqual([]);
  });

  it('ignores other events with 200', async () => {
    const res = await post('/hooks/gitlab', '{}', { 'x-gitlab-event': 'Merge Request Hook', 'x-gitlab-token': SECRET });
    expect(res.status).toBe(200);
    expect(res.body.message).toBe('ignored the Merge Request Hook event');
  });
});

describe('generic', () => {
  it('accepts { ref, after }, { sha } and an empty body when signed', async () => {
    const a = JSON.stringify({ ref: 'refs/heads/main', after: SHA, repository: 'shop' });
    const b = JSON.stringify({ sha: SHA.toUpperCase() });
    expect((await post('/hooks/generic', a, { 'x-signature-256': sign(a) })).status).toBe(202);
    expect((await post('/hooks/generic', b, { 'x-signature-256': sign(b) })).status).toBe(202);
    expect((await post('/hooks/generic', '', { 'x-signature-256': sign('') })).status).toBe(202);
    await settled();
    expect(events).toEqual([
      { provider: 'generic', ref: 'refs/heads/main', sha: SHA, repository: 'shop' },
      { provider: 'generic', sha: SHA },
      { provider: 'generic' },
    ]);
  });

  it('401 on a wrong signature, 400 on malformed JSON', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    expect((await post('/hooks/generic', body, { 'x-signature-256': sign(body, 'nope') })).status).toBe(401);
    expect((await post('/hooks/generic', body, { 'x-hub-signature-256': sign(body) })).status).toBe(401);
    const bad = '{not json';
    const res = await post('/hooks/generic', bad, { 'x-signature-256': sign(bad) });
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('the body is not valid JSON');
    await settled();
    expect(events).toEqual([]);
  });
});

describe('routing and limits', () => {
  it('404 for an unknown path, 405 for another method', async () => {
    expect((await post('/hooks/bitbucket', '{}')).status).toBe(404);
    expect((await post('/', '{}')).status).toBe(404);
    const res = await post('/hooks/github', '', {}, 'GET');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect((await post('/hooks/generic', '{}', {}, 'PUT')).status).toBe(405);
  });

  it('413 for a body over 1 MiB, and the server keeps working', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    const res = await post('/hooks/generic', big, { 'x-signature-256': sign(big) });
    expect(res.status).toBe(413);
    const huge = Buffer.alloc(6 * 1024 * 1024, 0x20);
    expect((await post('/hooks/github', huge, { 'x-github-event': 'push', 'x-hub-signature-256': sign(huge) })).status).toBe(413);
    // Without a signature the size does not matter: refused before the body.
    expect((await post('/hooks/github', huge, { 'x-github-event': 'push' })).status).toBe(401);

    const exactly = Buffer.concat([Buffer.from('{}'), Buffer.alloc(1024 * 1024 - 2, 0x20)]);
    expect((await post('/hooks/generic', exactly, { 'x-signature-256': sign(exactly) })).status).toBe(202);
    await settled();
    expect(events).toEqual([{ provider: 'generic' }]);
  });

  it('a failing push handler is logged, not returned, and does not stop the server', async () => {
    failNextPush = true;
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    expect((await post('/hooks/generic', body, { 'x-signature-256': sign(body) })).status).toBe(202);
    await settled();
    expect(logs.some((l) => l.includes('the reconciler is busy'))).toBe(true);
    const next = JSON.stringify({ ref: 'refs/heads/main', after: SHA });
    expect((await post('/hooks/generic', next, { 'x-signature-256': sign(next) })).status).toBe(202);
  });

  it('refuses to start without a secret', async () => {
    await expect(startWebhookServer({ port: 0, secret: '', onPush: () => undefined })).rejects.toThrow(/secret must not be empty/);
  });
});

describe('verifySignature', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');

  it('checks HMAC headers for github and generic, the token for gitlab', () => {
    expect(verifySignature('github', { 'X-Hub-Signature-256': sign(body) }, body, SECRET)).toBe(true);
    expect(verifySignature('github', { 'x-hub-signature-256': sign(body).toUpperCase().replace('SHA256=', 'sha256=') }, body, SECRET)).toBe(true);
    expect(verifySignature('generic', { 'x-signature-256': sign(body) }, body.toString(), Buffer.from(SECRET))).toBe(true);
    expect(verifySignature('gitlab', { 'x-gitlab-token': SECRET }, body, SECRET)).toBe(true);

    expect(verifySignature('github', { 'x-signature-256': sign(body) }, body, SECRET)).toBe(false);
    expect(verifySignature('generic', { 'x-hub-signature-256': sign(body) }, body, SECRET)).toBe(false);
    expect(verifySignature('github', { 'x-hub-signature-256': sign(body) }, Buffer.concat([body, Buffer.from(' ')]), SECRET)).toBe(false);
    expect(verifySignature('gitlab', { 'x-gitlab-token': 'short' }, body, SECRET)).toBe(false);
    expect(verifySignature('gitlab', {}, body, SECRET)).toBe(false);
  });

  it('never throws on odd headers, and an empty secret verifies nothing', () => {
    for (const value of ['', 'sha256=', 'sha256=00', `sha256=${'0'.repeat(63)}`, `sha256=${'0'.repeat(65)}`, 'garbage', [sign(body), sign(body)]]) {
      expect(verifySignature('github', { 'x-hub-signature-256': value }, body, SECRET)).toBe(false);
    }
    expect(verifySignature('gitlab', { 'x-gitlab-token': [SECRET, SECRET] }, body, SECRET)).toBe(false);
    expect(verifySignature('generic', { 'x-signature-256': sign(body, '') }, body, '')).toBe(false);
    expect(verifySignature('gitlab', { 'x-gitlab-token': '' }, body, '')).toBe(false);
  });
});

describe('pushMatchesRef', () => {
  it('matches the watched branch, tag or full ref; a push without ref always matches', () => {
    const push = (ref?: string): PushEvent => ({ provider: 'github', ref });
    expect(pushMatchesRef(push('refs/heads/main'), 'main')).toBe(true);
    expect(pushMatchesRef(push('refs/heads/release'), 'main')).toBe(false);
    expect(pushMatchesRef(push('refs/tags/v1'), 'v1')).toBe(true);
    expect(pushMatchesRef(push('refs/heads/main'), 'refs/heads/main')).toBe(true);
    expect(pushMatchesRef(push('refs/tags/main'), 'refs/heads/main')).toBe(false);
    expect(pushMatchesRef(push(undefined), 'main')).toBe(true);
    expect(pushMatchesRef(push('refs/heads/main'), SHA)).toBe(false);
  });
});
