/** `npm start`: the engine on the examples repo against the simulated cluster, end to end. */
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

it('applies the examples to the simulated cluster, says it is a simulation, and every workload becomes healthy', async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['bin/kgitops.mjs', 'demo', '--once'], { cwd: ROOT, timeout: 170_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
  expect(stderr).toContain('SIMULATION: kgitops runs against a cluster simulated in this process');
  expect(code).toBe(0);
  expect(stdout).toMatch(/^Succeeded: applied commit [0-9a-f]{12}: 11 created|^Succeeded|NoChange/m);
  expect(stdout).toContain('SIMULATION: this cluster is simulated in-process');
  const rows = stdout.split('\n').map((l) => l.split(/\s{2,}/)).filter((c) => c.length >= 4);
  const health = (kind: string, name: string) => rows.find((c) => c[0] === kind && c[2] === name)?.[3];
  for (const [kind, name] of [['CloneSet', 'storefront'], ['UnitedDeployment', 'cart'], ['StatefulSet', 'zookeeper'], ['SidecarSet', 'shop-logging'],
    ['DaemonSet', 'node-agent'], ['BroadcastJob', 'storefront-image-prewarm'], ['AdvancedCronJob', 'image-cleanup']]) {
    expect(health(kind, name), `${kind} ${name}`).toBe('Current');
  }
}, 180_000);

it('kept running, it is the controller with the examples declared as an App, applies them, serves the dashboard, and stops on Ctrl-C', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['bin/kgitops.mjs', 'demo', '--interval', '1h', '--ui-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 150_000;
  while (!/applied commit [0-9a-f]{12}/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  expect(out).toContain('the examples are declared as App kgitops-demo/shop');
  expect(out).toMatch(/applied commit [0-9a-f]{12}: \d+ created/);
  expect(out).toContain('app=kgitops-demo/shop');
  // The dashboard's address is printed, and it lists the App.
  const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
  expect(url).toBeTruthy();
  const apps = await (await fetch(`${url}/api/apps`)).json() as { apps: { namespace: string; name: string }[] };
  expect(apps.apps.map((a) => `${a.namespace}/${a.name}`)).toEqual(['kgitops-demo/shop']);
  expect(await (await fetch(`${url}/`)).text()).toContain('SIMULATION');
  // The demo's own release: once the shop is Current, a new cart image committed to its clone
  // of the checkout (never to the checkout), and the dashboard shows it step by step.
  expect(out).toMatch(/the App watches \/\S+kgitops-demo-repo-\S+ \(branch kgitops-demo\)/);
  while (!/release shop\/cart@\S+ started: 3 step\(s\)/.test(out) && Date.now() < deadline + 60_000) await new Promise((r) => setTimeout(r, 250));
  expect(out).toMatch(/demo release: committed registry\.example\.com\/shop\/cart:\d+\.\d+\.\d+ to the clone/);
  type Shop = { releases: { workload: string; steps: unknown[] }[]; change?: { change?: { objects: { release: { aspect: string }[] }[] } } };
  const shop = async () => await (await fetch(`${url}/api/apps/kgitops-demo/shop`)).json() as Shop;
  await expect.poll(async () => (await shop()).releases.map((r) => [r.workload, r.steps.length]), { timeout: 30_000 }).toEqual([['UnitedDeployment shop/cart', 3]]);
  await expect.poll(async () => (await shop()).change?.change?.objects.map((o) => o.release.map((f) => f.aspect)), { timeout: 30_000 }).toEqual([['image']]);
  expect(execFileSync('git', ['status', '--porcelain', 'examples'], { cwd: ROOT, encoding: 'utf8' })).toBe('');
  child.kill('SIGINT');
  expect(await exited).toBe(0);
}, 240_000);
