/**
 * Finding, reading and checking the kubeconfig (engine/cluster/kubeconfig.ts) and the probe
 * KubeCluster.connect sends: each way a kubeconfig or its cluster cannot be used is a
 * KubeconfigError with one line saying what and where, and a hint. The servers here are real
 * loopback listeners: a closed port, one that never answers, one that answers 401 or 403.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../../engine/cluster/kube.js';
import { KubeconfigError, type KubeconfigProblem, loadKubeconfig, type KubeconfigSelection } from '../../../engine/cluster/kubeconfig.js';
import { kubeconfigText } from '../../fixtures/kubeconfig.js';
import { closedPort } from '../../fixtures/net.js';

const DIR = mkdtempSync(join(tmpdir(), 'kgitops-kubeconfig-'));
const EMPTY_HOME = join(DIR, 'home');
mkdirSync(EMPTY_HOME);
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(DIR, name);
  writeFileSync(path, text);
  return path;
}

/** loadKubeconfig's KubeconfigError, checked for a one-line message and a hint. */
function failure(selection: KubeconfigSelection, problem: KubeconfigProblem): KubeconfigError {
  let error: unknown;
  try {
    loadKubeconfig({ home: EMPTY_HOME, env: {}, ...selection });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(KubeconfigError);
  const e = error as KubeconfigError;
  expect(e.problem).toBe(problem);
  expect(e.message).not.toContain('\n');
  expect(e.hint.length).toBeGreaterThan(10);
  return e;
}

describe('loadKubeconfig: where it looks, what it refuses', () => {
  it('without --kubeconfig, KUBECONFIG or ~/.kube/config (and not in a pod): says so, never falls back to http://localhost:8080', () => {
    const e = failure({}, 'NoKubeconfig');
    expect(e.message).toBe(`no kubeconfig found: no --kubeconfig given, KUBECONFIG is not set, ${EMPTY_HOME}/.kube/config does not exist, and this is not a pod`);
    expect(e.hint).toContain('--kubeconfig');
  });

  it('a --kubeconfig or KUBECONFIG that names no file', () => {
    expect(failure({ kubeconfig: join(DIR, 'nope.yaml') }, 'NotFound').message).toBe(`kubeconfig ${join(DIR, 'nope.yaml')} does not exist`);
    expect(failure({ env: { KUBECONFIG: join(DIR, 'nope.yaml') } }, 'NotFound').message).toBe(`KUBECONFIG=${join(DIR, 'nope.yaml')}: no such file`);
    expect(failure({ kubeconfig: DIR }, 'Unreadable').message).toBe(`cannot read kubeconfig ${DIR}: it is a directory`);
  });

  it('reads ~/.kube/config, and KUBECONFIG before it; a KUBECONFIG list skips files that do not exist, as kubectl does', () => {
    const home = join(DIR, 'home-with-config');
    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(join(home, '.kube', 'config'), kubeconfigText('https://127.0.0.1:6443'));
    expect(loadKubeconfig({ home, env: {} })).toMatchObject({ origin: join(home, '.kube', 'config'), context: 'ctx', cluster: 'c', user: 'u' });
    const other = file('other.yaml', kubeconfigText('https://10.9.9.9:6443').replaceAll('ctx', 'other'));
    const viaEnv = loadKubeconfig({ home, env: { KUBECONFIG: `${join(DIR, 'missing.yaml')}:${other}` } });
    expect(viaEnv).toMatchObject({ origin: other, context: 'other' });
    expect(viaEnv.server.href).toBe('https://10.9.9.9:6443/');
  });

  it('unparsable YAML: the file, line and column, in one line', () => {
    const path = file('garbage.yaml', 'clusters: [\n  - {name: a\nfoo');
    const e = failure({ kubeconfig: path }, 'InvalidYaml');
    expect(e.message).toMatch(new RegExp(`^kubeconfig ${path} is not valid YAML \\(line \\d+, column \\d+\\): \\S`));
  });

  it('YAML that is not a kubeconfig, and an entry the library refuses', () => {
    expect(failure({ kubeconfig: file('words.yaml', 'just some words\n') }, 'Invalid').message).toContain('is not a kubeconfig: expected a mapping with clusters, contexts and users, got a string');
    expect(failure({ kubeconfig: file('empty.yaml', '') }, 'Invalid').message).toContain('got an empty document');
    expect(failure({ kubeconfig: file('noserver.yaml', 'clusters: [{name: c, cluster: {}}]\n') }, 'Invalid').message).toContain('clusters[0].cluster.server is missing');
  });

  it('no current context, an unknown --context, and a context naming a cluster or user that is not there', () => {
    const noCurrent = file('nocurrent.yaml', kubeconfigText('https://127.0.0.1:6443', { currentContext: null }));
    const e = failure({ kubeconfig: noCurrent }, 'NoContext');
    expect(e.message).toBe(`the kubeconfig ${noCurrent} has no current context (its contexts: ctx)`);
    expect(e.hint).toBe('pass --context <name>, or pick one: kubectl config use-context ctx');
    expect(loadKubeconfig({ kubeconfig: noCurrent, context: 'ctx' }).context).toBe('ctx');
    expect(failure({ kubeconfig: noCurrent, context: 'prod' }, 'UnknownContext').message).toBe(`context "prod" is not in the kubeconfig ${noCurrent} (its contexts: ctx)`);
    expect(failure({ kubeconfig: file('dangling.yaml', kubeconfigText('https://127.0.0.1:6443', { currentContext: 'gone' })) }, 'UnknownContext').message)
      .toContain('has current-context "gone", which is not one of its contexts (its contexts: ctx)');
    expect(failure({ kubeconfig: file('nouser.yaml', kubeconfigText('https://127.0.0.1:6443', { user: 'admin' })) }, 'UnknownUser').message)
      .toContain('context "ctx" of the kubeconfig');
  });

  it('a plain http:// server is refused (its credentials would travel in clear) unless the cluster skips TLS verification', () => {
    const e = failure({ kubeconfig: file('http.yaml', kubeconfigText('http://127.0.0.1:8080')) }, 'InsecureServer');
    expect(e.message).toContain('has server http://127.0.0.1:8080, plain HTTP');
    expect(e.hint).toContain('https://');
    expect(loadKubeconfig({ kubeconfig: file('http-skip.yaml', kubeconfigText('http://127.0.0.1:8080', { skipTls: true })) }).server.protocol).toBe('http:');
    expect(failure({ kubeconfig: file('ftp.yaml', kubeconfigText('ftp://127.0.0.1')) }, 'BadServer').message).toContain('only https:// addresses are supported');
  });
});

/** A loopback HTTP server answering every request with `status`. */
async function answering(status: number, body: object): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_, res) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function connectFailure(kubeconfig: string, problem: KubeconfigProblem, probeTimeoutMs?: number): Promise<{ error: KubeconfigError; ms: number }> {
  const t0 = performance.now();
  const error = await KubeCluster.connect({ kubeconfig, ...(probeTimeoutMs ? { probeTimeoutMs } : {}) }).then(() => undefined, (e: unknown) => e);
  const ms = performance.now() - t0;
  expect(error).toBeInstanceOf(KubeconfigError);
  expect((error as KubeconfigError).problem).toBe(problem);
  expect((error as KubeconfigError).message).not.toContain('\n');
  return { error: error as KubeconfigError, ms };
}

describe('KubeCluster.connect: the probe', () => {
  it('a closed loopback port fails at once, naming the context, the server and the kubeconfig', async () => {
    const port = await closedPort();
    const kc = file('closed.yaml', kubeconfigText(`https://127.0.0.1:${port}`));
    const { error, ms } = await connectFailure(kc, 'Unreachable');
    expect(error.message).toBe(`cannot reach the cluster "ctx" at https://127.0.0.1:${port} (kubeconfig ${kc}): connection refused (nothing listens there)`);
    expect(error.hint).toContain('kubectl cluster-info');
    // No retries with backoff (the engine's requests take seconds for that): one refused connection.
    expect(ms).toBeLessThan(2_000);
  });

  it('a server that accepts the connection and never answers: given up after the probe timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => { sockets.push(s); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as { port: number };
    try {
      const { error, ms } = await connectFailure(file('silent.yaml', kubeconfigText(`https://127.0.0.1:${port}`)), 'Timeout', 500);
      expect(error.message).toBe(`the cluster "ctx" at https://127.0.0.1:${port} (kubeconfig ${join(DIR, 'silent.yaml')}) did not answer within 0.5 s`);
      expect(ms).toBeLessThan(3_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('https to a server that speaks plain HTTP: a TLS failure, said as such', async () => {
    const server = await answering(200, { gitVersion: 'v1.32.0' });
    try {
      const { error } = await connectFailure(file('tls.yaml', kubeconfigText(server.url.replace('http:', 'https:'))), 'TLS');
      expect(error.message).toMatch(/^cannot connect securely to the cluster "ctx" at https:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await server.close();
    }
  });

  it('401 and 403 from the server: the credentials are named as the problem', async () => {
    const unauthorized = await answering(401, { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
    const forbidden = await answering(403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'forbidden: User "system:anonymous" cannot get path "/version"' });
    try {
      const a = await connectFailure(file('401.yaml', kubeconfigText(unauthorized.url, { skipTls: true })), 'Unauthorized');
      expect(a.error.message).toBe(`the cluster "ctx" at ${unauthorized.url} (kubeconfig ${join(DIR, '401.yaml')}) rejected the credentials of user "u" (401 Unauthorized)`);
      expect(a.error.hint).toContain('wrong or has expired');
      const f = await connectFailure(file('403.yaml', kubeconfigText(forbidden.url, { skipTls: true })), 'Forbidden');
      expect(f.error.message).toContain('does not let user "u" read even its version (403 Forbidden)');
      expect(f.error.message).toContain('cannot get path');
    } finally {
      await unauthorized.close();
      await forbidden.close();
    }
  });

  it('a server that answers: connected, with the context as its name', async () => {
    const server = await answering(200, { gitVersion: 'v1.32.0' });
    try {
      const cluster = await KubeCluster.connect({ kubeconfig: file('ok.yaml', kubeconfigText(server.url, { skipTls: true })) });
      expect(cluster.name).toBe('ctx');
    } finally {
      await server.close();
    }
  });
});
