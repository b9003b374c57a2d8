/** `kgitops preview` of an app with a Fleet: its waves in order, with their selectors and gates. */
import { execFile } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { GitApp } from '../../fixtures/git-app.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = `import { Chart, Duration } from 'cdk8s';
import { App, Fleet, Gate, Wave } from 'kruise-gitops';
const app = new App();
const chart = new Chart(app, 'app', { namespace: 'shop' });
new Fleet(chart, 'fleet', Fleet.waves(
  Wave.clusters({ env: 'staging' }),
  Wave.clusters({ env: 'prod', region: 'eu' }).after(Gate.bake(Duration.hours(1)), Gate.approval()).maxParallel(2),
  Wave.named('us-1').called('us'),
));
app.synth();
`;
const repo = new GitApp(MAIN);
afterAll(() => repo.remove());

it('shows the waves, their clusters as selected and what each waits for', async () => {
  repo.commit({ namespace: 'shop', objects: [] });
  // The sandbox runs the app as an unprivileged user: the checkout must be readable by others.
  chmodSync(repo.dir, 0o755);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [`${ROOT}bin/kgitops.mjs`, 'preview', repo.dir, '--no-typecheck'], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
  expect(code, stderr).toBe(0);
  expect(stdout).toBe(`no workload has a release plan

fleet: 3 wave(s), each after the one before is synced, healthy and released (pass --kubeconfig of the management cluster to see which clusters)
  wave 1 wave-1: clusters labelled env=staging
    after: the commit
  wave 2 wave-2: clusters labelled env=prod, region=eu, 2 at a time
    after: bake 1h, approval
  wave 3 us: clusters us-1
    after: the wave before
`);
}, 90_000);
