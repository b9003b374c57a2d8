/**
 * A hostile repo's app against the real sandbox (bubblewrap on this machine): every attack a
 * committer tried on the engine before the sandbox existed, each as an app that tries it. The
 * attack must fail, the engine must carry on, and nothing may be left behind.
 *
 * The probe app reports what it could do as a ConfigMap (the only thing an app hands back), so
 * each test reads exactly what the app saw from inside.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../engine/config.js';
import { detectCgroups } from '../../../engine/sandbox/cgroup.js';
import { MiB } from '../../../engine/sandbox/limits.js';
import { engineRuntime, prepareDependencies } from '../../../engine/synth/dependencies.js';
import { synthesize } from '../../../engine/synth/index.js';
import { WarmSynthPool } from '../../../engine/synth/warm.js';
import { seedTransformCache } from '../../../engine/synth/transform-cache.js';
import { Sandbox } from '../../../engine/sandbox/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const WORK = mkdtempSync(join(tmpdir(), 'kgitops-hostile-'));
const CACHE = join(WORK, 'cache');
const SECRET = `s3cr3t-${process.pid}-${Date.now()}`;
const MARKER = `kgitops-hostile-marker-${process.pid}`;
let server: Server;
let port = 0;
let connections = 0;

beforeAll(async () => {
  process.env.KGITOPS_GIT_TOKEN = SECRET;
  process.env.KGITOPS_WEBHOOK_SECRET = SECRET;
  mkdirSync(join(WORK, 'home', '.kube'), { recursive: true });
  writeFileSync(join(WORK, 'home', '.kube', 'config'), `token: ${SECRET}\n`);
  writeFileSync(join(WORK, 'outside-secret.txt'), `${SECRET}\n`);
  server = createServer((s) => { connections++; s.destroy(); });
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  delete process.env.KGITOPS_GIT_TOKEN;
  delete process.env.KGITOPS_WEBHOOK_SECRET;
  await new Promise((r) => server.close(r));
  rmSync(WORK, { recursive: true, force: true });
});

let n = 0;
/** A repo (a git work tree) with the app in app/, its node_modules linked as the engine links them. */
async function repo(main: string, extra: (root: string, app: string) => void = () => {}): Promise<{ root: string; app: string }> {
  const root = join(WORK, `repo-${n++}`);
  const app = join(root, 'app');
  mkdirSync(app, { recursive: true });
  execFileSync('git', ['init', '-q', root]);
  writeFileSync(join(app, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
  writeFileSync(join(app, 'main.ts'), main);
  extra(root, app);
  await prepareDependencies(app, root, { cacheDir: CACHE });
  return { root, app };
}

const PROBE_HEAD = `import { ApiObject, Chart } from 'cdk8s';
import { App } from 'kruise-gitops';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
const found: Record<string, string> = {};
const attempt = (k: string, f: () => unknown) => { try { found[k] = String(f()); } catch (e: any) { found[k] = 'ERR ' + (e?.code ?? e?.message); } };
const report = () => {
  const app = new App();
  new ApiObject(new Chart(app, 'probe'), 'found', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'found', namespace: 'x' }, data: found });
  app.synth();
};
`;

async function probe(body: string): Promise<Record<string, string>> {
  const { root, app } = await repo(`${PROBE_HEAD}${body}`);
  const r = await synthesize(app, { root, policies: false });
  const found = r.objects.find((o) => o.manifest.metadata?.name === 'found');
  if (!found) throw new Error(`the probe did not report: ${JSON.stringify(r.diagnostics)}`);
  return found.manifest.data as Record<string, string>;
}

function hostProcessesWith(marker: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker); } catch { return false; }
  }).map(Number);
}

function hostAddress(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

describe('a hostile app in the sandbox', () => {
  it('cannot see other processes, their environment, or any credential file', async () => {
    const found = await probe(`
attempt('pids', () => fs.readdirSync('/proc').filter((x) => /^\\d+$/.test(x)).join(' '));
attempt('environs', () => fs.readdirSync('/proc').filter((x) => /^\\d+$/.test(x)).map((p) => { try { return fs.readFileSync('/proc/' + p + '/environ', 'utf8'); } catch { return ''; } }).join('|'));
attempt('engine', () => fs.readFileSync('/proc/${process.pid}/environ', 'utf8'));
attempt('env', () => JSON.stringify(process.env));
attempt('home', () => fs.readFileSync('${join(WORK, 'home', '.kube', 'config')}', 'utf8'));
attempt('rootKube', () => fs.readFileSync('/root/.kube/config', 'utf8'));
attempt('myKube', () => fs.readFileSync((process.env.HOME ?? '') + '/.kube/config', 'utf8'));
attempt('saToken', () => fs.readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8'));
attempt('etc', () => fs.readdirSync('/etc').join(' '));
attempt('root', () => fs.readdirSync('/').sort().join(' '));
report();
`);
    // Only the sandbox's own processes: bubblewrap's init, the collector shell, node, esbuild.
    expect(found.pids.split(' ').length).toBeLessThanOrEqual(6);
    expect(found.pids.split(' ')).not.toContain(String(process.pid));
    expect(found.engine).toMatch(/^ERR (ENOENT|EACCES)/);
    for (const k of ['environs', 'env']) expect(found[k]).not.toContain(SECRET);
    expect(JSON.parse(found.env)).not.toHaveProperty('KGITOPS_GIT_TOKEN');
    for (const k of ['home', 'rootKube', 'myKube', 'saToken', 'etc']) expect(found[k]).toMatch(/^ERR ENOENT/);
    // /usr and its links, a new /proc and /dev, a private /tmp, and the parents of the binds.
    for (const d of ['usr', 'proc', 'dev', 'tmp']) expect(found.root.split(' ')).toContain(d);
    for (const d of ['etc', 'home', 'root', 'sys', 'run', 'var', 'opt']) expect(found.root.split(' ')).not.toContain(d);
  });

  it('has no network: neither the host\'s loopback nor its other addresses answer', async () => {
    const address = hostAddress();
    const found = await probe(`
const connect = (host: string) => new Promise<string>((resolve) => {
  const s = net.connect(${port}, host);
  s.once('connect', () => { s.destroy(); resolve('connected'); });
  s.once('error', (e: any) => resolve('ERR ' + e.code));
  setTimeout(() => { s.destroy(); resolve('ERR timeout'); }, 3000);
});
(async () => {
  found.loopback = await connect('127.0.0.1');
  found.host = await connect('${address ?? '10.255.255.1'}');
  found.dns = await new Promise<string>((resolve) => require('node:dns').lookup('kubernetes.default.svc', (e: any) => resolve(e ? 'ERR ' + e.code : 'resolved')));
  report();
})();
`);
    expect(found.loopback).toMatch(/^ERR (ECONNREFUSED|ENETUNREACH)/);
    expect(found.host).toMatch(/^ERR (ENETUNREACH|EHOSTUNREACH|timeout)/);
    expect(found.dns).toMatch(/^ERR/);
    expect(connections).toBe(0);
  });

  it('runs as an unprivileged user without capabilities, and can write only its private /tmp', async () => {
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(join(CACHE, 'secret-in-cache'), SECRET);
    const found = await probe(`
attempt('status', () => fs.readFileSync('/proc/self/status', 'utf8').split('\\n').filter((l) => /^(Uid|CapEff|CapBnd|CapAmb|NoNewPrivs)/.test(l)).join(';'));
attempt('checkout', () => fs.writeFileSync('main.ts', 'pwned'));
attempt('newFile', () => fs.writeFileSync('pwned.ts', 'pwned'));
attempt('engine', () => fs.writeFileSync('${join(ROOT, 'engine', 'pwned.ts')}', 'pwned'));
attempt('cache', () => fs.writeFileSync('${join(CACHE, 'pwned')}', 'pwned'));
attempt('cacheRead', () => fs.readFileSync('${join(CACHE, 'secret-in-cache')}', 'utf8'));
attempt('tmp', () => { fs.writeFileSync('/tmp/scratch', 'ok'); return fs.readFileSync('/tmp/scratch', 'utf8'); });
attempt('userns', () => require('node:child_process').execFileSync('unshare', ['--user', 'true'], { stdio: 'pipe' }).toString() || 'ok');
report();
`);
    const status = Object.fromEntries(found.status.split(';').map((l) => l.split(':\t')));
    expect(status.Uid.split('\t')[0]).not.toBe('0');
    expect(status.CapEff).toBe('0000000000000000');
    expect(status.CapAmb).toBe('0000000000000000');
    expect(status.NoNewPrivs).toBe('1');
    for (const k of ['checkout', 'newFile', 'engine']) expect(found[k]).toMatch(/^ERR (EROFS|EACCES)/);
    // The engine's cache is not there: what the app writes under its path lands in its own /tmp.
    expect(found.cacheRead).toMatch(/^ERR ENOENT/);
    expect(found.tmp).toBe('ok');
    expect(found.userns).toMatch(/^ERR/);
    expect(existsSync(join(ROOT, 'engine', 'pwned.ts'))).toBe(false);
    expect(existsSync(join(CACHE, 'pwned'))).toBe(false);
  });

  it('cannot plant compiled code in the engine\'s compile cache, which it reads but cannot write', async () => {
    const cache = await seedTransformCache(CACHE);
    expect(cache).toBeDefined();
    const before = readdirSync(cache!).sort();
    const found = await probe(`
const dir = '/tmp/tsx-' + process.geteuid!();
attempt('entries', () => fs.readdirSync(dir).length);
attempt('plant', () => fs.writeFileSync(dir + '/' + fs.readdirSync(dir)[0], '{"code":"pwned"}'));
attempt('add', () => fs.writeFileSync(dir + '/9999-pwned', '{}'));
report();
`);
    expect(Number(found.entries)).toBeGreaterThan(20);
    expect(found.plant).toMatch(/^ERR (EROFS|EACCES)/);
    expect(found.add).toMatch(/^ERR (EROFS|EACCES)/);
    expect(readdirSync(cache!).sort()).toEqual(before);
  });

  it('is a user without privileges on the host too (not root behind a user namespace)', async () => {
    const { root, app } = await repo(`require('node:child_process').spawnSync('sh', ['-c', 'sleep 2', '${MARKER}-uid']);\n`);
    const run = synthesize(app, { root, policies: false });
    let uid: string | undefined;
    for (let i = 0; i < 100 && !uid; i++) {
      const pid = hostProcessesWith(`${MARKER}-uid`)[0];
      if (pid) uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      else await new Promise((r) => setTimeout(r, 50));
    }
    await run;
    expect(uid).toBeDefined();
    expect(uid).not.toBe('0');
    if (process.getuid?.() === 0) expect(uid).toBe('65534');
  });

  it('leaves no process behind: detached and daemonized children end with the app', async () => {
    const { root, app } = await repo(`${PROBE_HEAD}
spawn('sh', ['-c', 'sleep 300', '${MARKER}-detached'], { detached: true, stdio: 'ignore' }).unref();
spawn('sh', ['-c', 'setsid nohup sh -c "sleep 300" ${MARKER}-daemon >/dev/null 2>&1 &'], { stdio: 'ignore' });
for (let i = 0; i < 100; i++) spawn('sh', ['-c', 'sleep 300', '${MARKER}-many'], { detached: true, stdio: 'ignore' }).on('error', () => {}).unref();
setTimeout(() => { report(); process.exit(0); }, 1500);
`);
    const run = synthesize(app, { root, policies: false });
    // They did start (on the host, as processes of the sandbox) ...
    let seen = 0;
    for (let i = 0; i < 100 && seen < 50; i++) { seen = hostProcessesWith(`${MARKER}-many`).length; await new Promise((r2) => setTimeout(r2, 50)); }
    expect(seen).toBeGreaterThanOrEqual(50);
    const r = await run;
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    // ... and none outlives the app.
    await new Promise((r2) => setTimeout(r2, 200));
    expect(hostProcessesWith(MARKER)).toEqual([]);
  });

  it('a 3 GiB Buffer fails, with the memory limit named', async () => {
    const { root, app } = await repo(`const b = Buffer.alloc(3 * 1024 ** 3, 1); console.log(b.length);\n`);
    const r = await synthesize(app, { root, policies: false });
    expect(r.ok).toBe(false);
    const e = r.diagnostics.find((d) => d.severity === 'error')!;
    expect(`${e.message} ${e.hint}`).toMatch(/memory/);
  });

  it('the whole process tree is bounded, not only each process: children that together exceed the limit are stopped', async () => {
    const support = detectCgroups();
    if (process.env.CI === 'true') expect(support.version).toBeDefined();
    const { root, app } = await repo(`import { spawn } from 'node:child_process';
for (let i = 0; i < 3; i++) spawn(process.execPath, ['-e', 'const k = []; for (let j = 0; j < 5; j++) k.push(Buffer.alloc(100 * 2 ** 20, 1)); setTimeout(() => {}, 4000)'], { stdio: 'inherit' });
`);
    const r = await synthesize(app, { root, policies: false, limits: { memoryBytes: 768 * MiB } });
    const e = r.diagnostics.find((d) => d.severity === 'error');
    if (support.version) {
      expect(r.ok).toBe(false);
      expect(e?.message).toBe('the app used more than 768 MiB of memory, the sandbox\'s limit, and was stopped');
    } else {
      // Without a cgroup each process is bounded, and the tree by processes x memory: say so.
      expect(support.reason).toMatch(/each process is bounded by rlimits/);
    }
  });

  it('a fork bomb fails, names the process limit, and leaves nothing running', async () => {
    const { root, app } = await repo(`import { spawn } from 'node:child_process';
const bomb = () => { for (let i = 0; i < 50; i++) { const c = spawn('sh', ['-c', 'while :; do sh -c "sleep 300" ${MARKER}-bomb & done'], { stdio: 'ignore' }); c.on('error', () => {}); } };
bomb();
setTimeout(() => { throw new Error('still here'); }, 3000);
`);
    const r = await synthesize(app, { root, policies: false, limits: { processes: 64 }, timeoutMs: 20_000 });
    expect(r.ok).toBe(false);
    await new Promise((r2) => setTimeout(r2, 200));
    expect(hostProcessesWith(`${MARKER}-bomb`)).toEqual([]);
  });

  it('1 GB of output is cut off at the cap: an error, nothing used, and the engine\'s memory stays bounded', async () => {
    const { root, app } = await repo(`import { ApiObject, Chart } from 'cdk8s';
import { App } from 'kruise-gitops';
import { writeSync } from 'node:fs';
// 1 GB of one JSON string.
// Straight to the output pipe kgitops gave it (KGITOPS_SYNTH_OUTPUT=/dev/fd/<n>), as fast as it goes.
const out = Number(process.env.KGITOPS_SYNTH_OUTPUT!.split('/').pop());
writeSync(out, '{"protocol":"kgitops-synth/v1","objects":[{"manifest":{"data":"');
const chunk = 'x'.repeat(1 << 20);
for (let i = 0; i < 1024; i++) writeSync(out, chunk);
writeSync(out, '"}}],"diagnostics":[],"charts":[]}');
`);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    const r = await synthesize(app, { root, policies: false, limits: { outputBytes: 64 * MiB } });
    clearInterval(sampler);
    expect(r.ok).toBe(false);
    expect(r.objects).toEqual([]);
    expect(r.diagnostics[0].message).toBe('the app rendered more than 64 MiB of output and was stopped; nothing from it is used');
    expect(peak - before).toBeLessThan(400 * MiB);
  });

  it('an endless loop is stopped at the wall time, and the engine carries on', async () => {
    const { root, app } = await repo('for (;;) {}\n');
    const r = await synthesize(app, { root, policies: false, timeoutMs: 3000 });
    expect(r.diagnostics[0].message).toBe('the app did not finish within 3 s and was stopped');
    const good = await repo(`${PROBE_HEAD}report();\n`);
    expect((await synthesize(good.app, { root: good.root, policies: false })).ok).toBe(true);
  });
});

describe('hostile policy files', () => {
  const POLICY = `import { definePolicy } from 'kruise-gitops/policy';
import * as fs from 'node:fs';
const attempt = (f: () => unknown) => { try { return String(f()).slice(0, 80); } catch (e: any) { return 'ERR ' + (e?.code ?? e?.message); } };
export default definePolicy({
  name: 'thief',
  check(_o, ctx) {
    ctx.report([
      'engine=' + attempt(() => fs.readFileSync('/proc/${process.pid}/environ', 'utf8')),
      'kube=' + attempt(() => fs.readFileSync('${join(WORK, 'home', '.kube', 'config')}', 'utf8')),
      'write=' + attempt(() => fs.writeFileSync('policies/pwned.ts', 'x')),
      'uid=' + process.getuid!(),
    ].join(' ; '), { severity: 'warning' });
  },
});
`;

  it('run in the sandbox too, cold (kgitops synth) and in the engine\'s warm workers', async () => {
    const { root, app } = await repo(`${PROBE_HEAD}report();\n`, (_root, dir) => {
      mkdirSync(join(dir, 'policies'));
      writeFileSync(join(dir, 'policies', 'thief.ts'), POLICY);
    });
    const sandbox = await Sandbox.default();
    const pool = new WarmSynthPool({ sandbox, slotsDir: join(CACHE, 'slots'), binds: [{ source: engineRuntime(CACHE) }] });
    try {
      pool.keepReady(2);
      for (const warm of [undefined, pool]) {
        const r = await synthesize(app, { root, sandbox, ...(warm ? { warm } : {}) });
        const said = r.diagnostics.find((d) => d.rule === 'policy/thief');
        expect(said, JSON.stringify(r.diagnostics)).toBeDefined();
        const got = Object.fromEntries(said!.message.split(' ; ').map((kv) => kv.split('=')));
        expect(got.engine).toMatch(/^ERR (ENOENT|EACCES)/);
        expect(got.kube).toMatch(/^ERR ENOENT/);
        expect(got.write).toMatch(/^ERR (EROFS|EACCES)/);
        expect(got.uid).not.toBe('0');
        expect(JSON.stringify(r.diagnostics)).not.toContain(SECRET);
      }
    } finally {
      pool.close();
    }
    expect(existsSync(join(app, 'policies', 'pwned.ts'))).toBe(false);
  });
});

describe('paths out of the checkout', () => {
  it('refuses a symlinked main.ts that leads outside, without quoting the file', async () => {
    const { root, app } = await repo('', (_root, a) => {
      rmSync(join(a, 'main.ts'));
      symlinkSync(join(WORK, 'outside-secret.txt'), join(a, 'main.ts'));
    });
    const r = await synthesize(app, { root, policies: false });
    expect(r.ok).toBe(false);
    expect(r.diagnostics[0]).toMatchObject({ rule: 'synth/path-outside-repo', message: expect.stringMatching(/^the app has a symlink leading outside the repository: app\/main\.ts -> .*outside-secret\.txt/), source: expect.stringMatching(/app\/main\.ts$/) });
    expect(JSON.stringify(r.diagnostics)).not.toContain(SECRET);
  });

  it('refuses a symlinked cdk8s.yaml, and a symlinked directory on the app path, without reading them', async () => {
    const a = await repo(`${PROBE_HEAD}report();\n`, (_root, dir) => {
      rmSync(join(dir, 'cdk8s.yaml'));
      symlinkSync(join(WORK, 'outside-secret.txt'), join(dir, 'cdk8s.yaml'));
    });
    const r = await synthesize(a.app, { root: a.root, policies: false });
    expect(r.ok).toBe(false);
    expect(r.diagnostics[0].message).toMatch(/^app\/cdk8s\.yaml is a symlink to .*outside-secret\.txt, which is outside the repository/);
    expect(JSON.stringify(r.diagnostics)).not.toContain(SECRET);

    const b = await repo(`${PROBE_HEAD}report();\n`, (root) => symlinkSync(join(WORK, 'home'), join(root, 'linked')));
    const r2 = await synthesize(join(b.root, 'linked'), { root: b.root, policies: false });
    expect(r2.ok).toBe(false);
    expect(r2.diagnostics[0].message).toMatch(/^linked is a symlink to .*home, which is outside the repository/);
  });

  it('refuses a policies/ directory that leads outside', async () => {
    const { root, app } = await repo(`${PROBE_HEAD}report();\n`, (_root, dir) => symlinkSync(join(WORK, 'home'), join(dir, 'policies')));
    const r = await synthesize(app, { root });
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.message)).toContainEqual(expect.stringMatching(/app\/policies -> .*home/));
  });

  it('keeps symlinks that stay inside the checkout', async () => {
    const { root, app } = await repo(`${PROBE_HEAD}import { x } from './lib/x.js';\nfound.x = x;\nreport();\n`, (_root, dir) => {
      mkdirSync(join(dir, 'real'));
      writeFileSync(join(dir, 'real', 'x.ts'), "export const x = 'inside';\n");
      symlinkSync('real', join(dir, 'lib'));
    });
    const r = await synthesize(app, { root, policies: false });
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.objects[0].manifest.data.x).toBe('inside');
  });

  it('an app path out of the repository is a configuration error', () => {
    for (const path of ['../..', '../other', '/etc', 'deploy/../../x']) {
      expect(() => loadConfig({ repo: WORK, path, cacheDir: CACHE })).toThrow(ConfigError);
    }
    expect(() => loadConfig({ repo: WORK, path: '../..', cacheDir: CACHE })).toThrow(/path "\.\.\/\.\." leaves the repository/);
    expect(loadConfig({ repo: WORK, path: 'deploy/./', cacheDir: CACHE }).path).toBe('deploy');
  });
});

describe('without a sandbox', () => {
  const kgitops = (args: string[], env: Record<string, string>) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });

  it('refuses to run repo code and says why and what to do; --unsafe-no-sandbox runs it with a warning', async () => {
    const refused = await kgitops(['synth', 'examples', '--no-write'], { KGITOPS_BWRAP: '/nonexistent/bwrap' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('error: bubblewrap (bwrap) is not installed, and kgitops runs repo code only in a sandbox');
    expect(refused.stderr).toContain('hint: install it: `apt-get install bubblewrap`');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const unsafe = await kgitops(['synth', 'examples', '--no-write', '--unsafe-no-sandbox'], { KGITOPS_BWRAP: '/nonexistent/bwrap' });
    expect(unsafe.code).toBe(0);
    expect(unsafe.stderr).toContain('WARNING: --unsafe-no-sandbox: repo code runs as a plain child process');
    const check = await kgitops(['sandbox'], { KGITOPS_BWRAP: '/nonexistent/bwrap' });
    expect(check.code).toBe(2);
  });
});
