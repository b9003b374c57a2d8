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
  for (const line of ['CloneSet          shop       storefront     Current', 'UnitedDeployment  shop       cart           Current',
    'StatefulSet       shop       zookeeper      Current', 'SidecarSet        -          shop-logging   Current', 'DaemonSet         platform   node-agent     Current',
    'BroadcastJob      platform   storefront-image-prewarm  Current']) {
    expect(stdout).toContain(line);
  }
}, 180_000);
