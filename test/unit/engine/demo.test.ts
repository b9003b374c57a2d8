/** `npm start`: the engine on the examples repo against the simulated cluster, end to end. */
import { execFile } from 'node:child_process';
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
