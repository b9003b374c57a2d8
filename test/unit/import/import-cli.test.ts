/**
 * `kgitops import` as a user runs it (a process per run): writes the TypeScript to stdout or
 * --out, reports on stderr (or JSON), leaves out server-set fields and says so, refuses to
 * overwrite, and exits 0 imported / 1 imported with invalid objects / 2 usage error.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runKgitops } from '../../fixtures/cli.js';

const WORK = mkdtempSync(join(tmpdir(), 'kgitops-import-'));
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

const kgitops = (args: string[], input?: string) => runKgitops(WORK, args, input);

// As `kubectl get -o yaml` prints it: server-set metadata and a status.
const LIVE = `apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata:
  name: web
  namespace: shop
  uid: 0f4c2a2e-1111-2222-3333-444455556666
  resourceVersion: "4711"
  generation: 3
  creationTimestamp: "2026-11-30T10:00:00Z"
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"big":"blob"}'
spec:
  replicas: 4
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: main, image: registry.example.com/web:1.2.0 }]
  updateStrategy: { type: InPlaceIfPossible, partition: 2, maxUnavailable: 1, inPlaceUpdateStrategy: { gracePeriodSeconds: 30 } }
  minReadySeconds: 120
status:
  replicas: 4
  readyReplicas: 4
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
`;

describe('kgitops import', () => {
  it('prints the TypeScript on stdout and a summary on stderr', async () => {
    writeFileSync(join(WORK, 'live.yaml'), LIVE);
    const r = await kgitops(['import', 'live.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("const web = new CloneSet(this, 'web', {");
    expect(r.stdout).toContain('updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ partition: 2, maxUnavailable: 1, gracePeriod: Duration.seconds(30) })');
    expect(r.stdout).toContain('minReady: Duration.minutes(2)');
    expect(r.stdout).toContain("new ApiObject(this, 'web-service', {");
    const leftOut = r.stdout.match(/Left out \(set by the cluster\): ([^]*?)\n\s+const web/)![1]!.replace(/\n\s+\/\/ /g, ' ');
    expect(leftOut).toBe('metadata.uid, metadata.resourceVersion, metadata.generation, metadata.creationTimestamp, metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"], status.');
    expect(r.stdout).not.toContain('4711');
    expect(r.stderr).toMatch(/^imported 2 object\(s\): 1 as kruise-gitops constructs, 1 as ApiObjects; \d+\.\d\d s\n$/);
  });

  it('writes --out, refuses to overwrite it without --force, and reports as JSON', async () => {
    const out = join(WORK, 'imported.ts');
    const r = await kgitops(['import', '-', '-o', out, '--class', 'ShopChart', '--report', 'json'], LIVE);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('export class ShopChart extends Chart {');
    const report = JSON.parse(r.stdout);
    expect(report.summary).toMatchObject({ objects: 2, constructs: 1, apiObjects: 1, patched: 0, invalid: 0 });
    expect(report.objects[0]).toMatchObject({ kind: 'CloneSet', name: 'web', construct: 'CloneSet', source: 'stdin:1' });
    const again = await kgitops(['import', '-', '-o', out], LIVE);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`error: ${out} exists\nhint: choose another --out, or pass --force to overwrite it\n`);
    expect((await kgitops(['import', '-', '-o', out, '--force'], LIVE)).code).toBe(0);
  });

  it('imports an invalid object as written and exits 1, pointing at kgitops validate', async () => {
    writeFileSync(join(WORK, 'bad.yaml'), LIVE.replace('partition: 2', 'partition: "half"'));
    const r = await kgitops(['import', 'bad.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("partition: 'half'");
    expect(r.stderr).toContain('1 error(s) in the input: kgitops synth will report them in the imported code too (kgitops validate bad.yaml lists them)');
  });

  it('is a usage error without input, with a bad class name, or for a missing file', async () => {
    expect(await kgitops(['import'])).toMatchObject({ code: 2, stderr: expect.stringContaining('error: nothing to import') });
    expect(await kgitops(['import', 'live.yaml', '--class', 'my-chart'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--class my-chart: not a class name') });
    const unwritable = await kgitops(['import', 'live.yaml', '-o', join(WORK, 'no-such-dir', 'x.ts')]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toBe(`error: cannot write ${join(WORK, 'no-such-dir', 'x.ts')}: ENOENT\nhint: check that its directory exists and is writable, or choose another --out\n`);
    const missing = await kgitops(['import', 'nope.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).not.toContain('    at ');
    expect(existsSync(join(WORK, 'nope.ts'))).toBe(false);
  });
});
