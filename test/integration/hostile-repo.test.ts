/**
 * A hostile committer against the sync engine on a real apiserver: commits whose app tries to
 * steal the engine's credentials, reach the apiserver, plant a git hook in the engine's mirror,
 * exhaust the machine or smuggle in files from outside the repo. Each attack fails, the engine
 * records the commit as failed and carries on, and nothing changes in the cluster: the last good
 * commit keeps running and the next good one applies.
 */
import { readdirSync, readFileSync, existsSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import { gitSource } from '../../engine/cli/sync.js';
import { realClock } from '../../engine/clock.js';
import { loadConfig } from '../../engine/config.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { GitSource } from '../../engine/source/git.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { cluster as clusterContext, kubeconfigPath, withNamespace } from '../cluster/harness.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-hostile-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));
const MARKER = `kgitops-hostile-it-${process.pid}`;

/** An app that tries everything and reports what it got on stderr, then fails on purpose. */
function thief(o: { kubeconfig: string; server: URL; mirror: string; engineRoot: string }): string {
  return `import * as fs from 'node:fs';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
const lines: string[] = [];
const attempt = (k: string, f: () => unknown) => { try { lines.push(k + '=' + String(f()).slice(0, 200)); } catch (e: any) { lines.push(k + '=ERR ' + (e?.code ?? e?.message)); } };
attempt('kubeconfig', () => fs.readFileSync(${JSON.stringify(o.kubeconfig)}, 'utf8'));
attempt('environ', () => fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).map((p) => { try { return fs.readFileSync('/proc/' + p + '/environ', 'utf8'); } catch { return ''; } }).join('|').includes('KUBECONFIG') ? 'found' : 'none');
attempt('hook', () => fs.writeFileSync(${JSON.stringify(join(o.mirror, 'hooks', 'post-checkout'))}, '#!/bin/sh\\ntouch /tmp/${MARKER}-hook\\n', { mode: 0o755 }));
attempt('source', () => fs.writeFileSync(${JSON.stringify(join(o.engineRoot, 'engine', `${MARKER}.ts`))}, 'pwned'));
spawn('sh', ['-c', 'sleep 300', '${MARKER}-left'], { detached: true, stdio: 'ignore' }).unref();
const s = net.connect(${Number(o.server.port)}, ${JSON.stringify(o.server.hostname)});
s.once('connect', () => { lines.push('apiserver=connected'); done(); });
s.once('error', (e: any) => { lines.push('apiserver=ERR ' + e.code); done(); });
function done() { console.error('PROBE ' + lines.join(' ; ')); process.exit(1); }
`;
}

const FORK_BOMB = `import { spawn } from 'node:child_process';
for (let i = 0; i < 40; i++) spawn('sh', ['-c', 'while :; do sh -c "sleep 300" ${MARKER}-bomb & done'], { stdio: 'ignore' }).on('error', () => {});
setTimeout(() => { throw new Error('the bomb went off'); }, 5000);
`;
const BIG_BUFFER = 'const b = Buffer.alloc(3 * 1024 ** 3, 1); console.log(b.length);\n';
const FLOOD = `import { writeSync } from 'node:fs';
// Straight to the output pipe kgitops gave it (KGITOPS_SYNTH_OUTPUT=/dev/fd/<n>), as fast as it goes.
const out = Number(process.env.KGITOPS_SYNTH_OUTPUT!.split('/').pop());
writeSync(out, '{"protocol":"kgitops-synth/v1","objects":[{"manifest":{"data":"');
const chunk = 'x'.repeat(1 << 20);
for (let i = 0; i < 1024; i++) writeSync(out, chunk);
`;

function hostProcessesWith(marker: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker); } catch { return false; }
  }).map(Number);
}

describe('a hostile repo against the engine on a real apiserver', () => {
  it('every attack fails, the engine carries on, and the cluster keeps the last good commit', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const config = loadConfig({ repo: repo.dir, app: 'hostile', namespace: ns, cacheDir: CACHE });
      const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
      const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, createLogger({ level: 'silent' }));
      const mirror = new GitSource({ url: repo.dir, cacheDir: join(CACHE, 'git') }).mirrorDir;
      const configMaps = async () => (await cluster.list('v1', 'ConfigMap', { namespace: ns })).items.map((c) => c.metadata.name).sort();
      try {
        const first = repo.commit({ namespace: ns, objects: [configMap('good', { v: '1' })] }, 'good');
        expect((await reconciler.reconcile()).result).toBe('Succeeded');
        const before = await configMaps();
        expect(before).toContain('good');

        // Credentials, the apiserver, the mirror's hooks, the engine's source tree.
        const server = new URL(clusterContext().server);
        const engineRoot = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
        repo.commit({ namespace: ns, objects: [configMap('stolen', { v: '1' })] }, 'thief', { 'main.ts': thief({ kubeconfig: kubeconfigPath(), server, mirror, engineRoot }) });
        const stolen = await reconciler.reconcile();
        expect(stolen.result).toBe('Failed');
        const probe = /PROBE (.*)/.exec(stolen.errors[0].hint ?? '')?.[1];
        expect(probe, JSON.stringify(stolen.errors)).toBeDefined();
        const got = Object.fromEntries(probe!.split(' ; ').map((kv) => kv.split('=')));
        expect(got.kubeconfig).toMatch(/^ERR ENOENT/);
        expect(got.environ).toBe('none');
        expect(got.hook).toMatch(/^ERR (ENOENT|EROFS|EACCES)/);
        expect(got.source).toMatch(/^ERR (EROFS|EACCES)/);
        expect(got.apiserver).toMatch(/^ERR (ECONNREFUSED|ENETUNREACH)/);
        expect(existsSync(join(mirror, 'hooks', 'post-checkout'))).toBe(false);
        expect(existsSync(join(engineRoot, 'engine', `${MARKER}.ts`))).toBe(false);
        expect(hostProcessesWith(`${MARKER}-left`)).toEqual([]);
        expect(await configMaps()).toEqual(before);

        // Exhaustion: processes, memory, output. Each is a failed commit with its reason.
        for (const [main, reason] of [
          [FORK_BOMB, /processes and threads/],
          [BIG_BUFFER, /memory/],
          [FLOOD, /rendered more than 64 MiB of output/],
        ] as const) {
          const rssBefore = process.memoryUsage().rss;
          repo.commit({ namespace: ns, objects: [configMap('exhausted', { v: '1' })] }, 'exhaust', { 'main.ts': main });
          let most = 0;
          const sampler = setInterval(() => { most = Math.max(most, hostProcessesWith(`${MARKER}-bomb`).length); }, 100);
          const r = await reconciler.reconcile();
          clearInterval(sampler);
          // The bomb's processes never outnumber the sandbox's limit on the host.
          expect(most).toBeLessThanOrEqual(256);
          expect(r.result).toBe('Failed');
          expect(`${r.errors[0].message} ${r.errors[0].hint ?? ''}`, JSON.stringify(r.errors)).toMatch(reason);
          expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * 2 ** 20);
          expect(await configMaps()).toEqual(before);
        }
        expect(hostProcessesWith(`${MARKER}-bomb`)).toEqual([]);

        // A main.ts that is a symlink to the kubeconfig: refused, never read, never quoted.
        unlinkSync(join(repo.dir, 'main.ts'));
        symlinkSync(kubeconfigPath(), join(repo.dir, 'main.ts'));
        repo.git('add', '-A');
        repo.git('commit', '-q', '-m', 'symlink');
        const linked = await reconciler.reconcile();
        expect(linked.result).toBe('Failed');
        expect(linked.errors[0]).toMatchObject({ rule: 'synth/path-outside-repo' });
        const kubeconfigText = readFileSync(kubeconfigPath(), 'utf8');
        const secretLine = kubeconfigText.split('\n').find((l) => /client-key-data|token/.test(l))!;
        expect(JSON.stringify(linked)).not.toContain(secretLine.trim().split(/:\s*/)[1]!.slice(0, 40));
        expect(await configMaps()).toEqual(before);

        // The engine carries on: the next good commit applies.
        unlinkSync(join(repo.dir, 'main.ts'));
        repo.commit({ namespace: ns, objects: [configMap('good', { v: '2' })] }, 'good again', { 'main.ts': repo.git('show', `${first}:main.ts`) });
        const again = await reconciler.reconcile();
        expect(again.result, JSON.stringify(again.errors)).toBe('Succeeded');
        expect((await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'good' }))?.data).toEqual({ v: '2' });
      } finally {
        reconciler.close();
        repo.remove();
      }
    }), 300_000);
});
