/**
 * `kgitops validate` as a user runs it (a process per run) on existing YAML: each problem with
 * file and line (of the field), object, JSON path and hint; exit 0 / 1 / 2; -o json; standard input.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runKgitops } from '../../fixtures/cli.js';
import { readFileSync, readdirSync } from 'node:fs';
import { stringify } from 'yaml';
import { validateFiles } from '../../../engine/validate/existing.js';
import { astLineOf, blockLineOf, pathSegments, readManifests, splitDocuments } from '../../../engine/validate/files.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORK = mkdtempSync(join(tmpdir(), 'kgitops-validate-'));
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

const kgitops = (args: string[], input?: string) => runKgitops(WORK, args, input);
function file(rel: string, text: string): string {
  const p = join(WORK, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const CLONESET = `apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: main
          image: registry.example.com/web:1.2.3
          resources:
            requests: { cpu: 100m, memory: 64Mi }
            limits: { memory: 128Mi }
`;

describe('kgitops validate', () => {
  it('passes valid YAML with exit 0 and says how many objects and files', async () => {
    const f = file('ok/web.yaml', `# Source: shop/templates/web.yaml\n---\n${CLONESET}---\n# Source: shop/templates/empty.yaml\n---\napiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop }\nspec:\n  selector: { app: web }\n  ports: [{ port: 80 }]\n`);
    const r = await kgitops(['validate', f]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^valid: 2 object\(s\) in 1 file\(s\); 0 error\(s\), 0 warning\(s\)/m);
  });

  it('names the file and the line of the field, the object, the JSON path and a hint; exit 1', async () => {
    const broken = CLONESET.replace('replicas: 2', 'replicas: two').replace('          image:', '          imagePullPolicyy: Always\n          image:');
    const f = file('bad/web.yaml', `---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: fine, namespace: shop }\n---\n${broken}`);
    const r = await kgitops(['validate', f, '-o', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(false);
    expect(out.summary).toMatchObject({ files: 1, objects: 2, errors: 2 });
    const byRule = Object.fromEntries(out.diagnostics.map((d: { rule: string }) => [d.rule, d]));
    // The CloneSet starts on line 6 of the file; replicas is its 7th line, the misspelt field its 16th.
    expect(byRule['schema/type']).toMatchObject({ path: 'spec.replicas', source: 'bad/web.yaml:12', object: { kind: 'CloneSet', name: 'web', namespace: 'shop' } });
    expect(byRule['schema/unknown-field']).toMatchObject({ path: 'spec.template.spec.containers[0].imagePullPolicyy', source: 'bad/web.yaml:21' });
    expect(byRule['schema/unknown-field'].hint).toContain('check the spelling');
    const text = await kgitops(['validate', f]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('error bad/web.yaml:12, CloneSet shop/web (apps.kruise.io/v1alpha1)\n  spec.replicas:');
    expect(text.stdout).toMatch(/^invalid: 2 object\(s\) in 1 file\(s\); 2 error\(s\)/m);
  });

  it('runs Kruise\'s webhook rules and the built-in policies (advice), which a schema alone misses', async () => {
    const f = file('rules/web.yaml', CLONESET.replace('replicas: 2', 'replicas: 2\n  updateStrategy:\n    type: InPlaceOnly\n    maxSurge: 1').replace('web:1.2.3', 'web:latest'));
    const r = await kgitops(['validate', f, '-o', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    const rules = out.diagnostics.map((d: { rule: string; severity: string }) => `${d.severity} ${d.rule}`);
    expect(rules).toContain('error cloneset/in-place-only-max-surge');
    expect(rules).toContain('warning policy/images-pinned');
    expect(out.diagnostics.find((d: { rule: string }) => d.rule === 'policy/images-pinned').source).toBe('rules/web.yaml:19'); // the image field
    // --no-policies: schemas and rules only.
    const bare = JSON.parse((await kgitops(['validate', f, '-o', 'json', '--no-policies'])).stdout);
    expect(bare.diagnostics.some((d: { rule: string }) => d.rule.startsWith('policy/'))).toBe(false);
    expect(bare.policies).toEqual([]);
  });

  it('reads standard input (helm template | kgitops validate -), a YAML syntax error with its line, and goes on', async () => {
    const r = await kgitops(['validate', '-', '-o', 'json'], `${CLONESET}---\nkind: [unclosed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: after }\n`);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.summary.objects).toBe(2);
    const syntax = out.diagnostics.find((d: { rule: string }) => d.rule === 'yaml/syntax');
    expect(syntax.source).toMatch(/^-:2[12]$/);
    expect(syntax.message).toMatch(/^not valid YAML: /);
  });

  it('walks directories, skipping what is never a manifest, and finds the same object twice across files', async () => {
    file('tree/a/web.yaml', CLONESET);
    file('tree/b/copy.yml', CLONESET);
    file('tree/values.yaml', 'replicas: 3\n');
    file('tree/Chart.yaml', 'apiVersion: v2\nname: shop\n');
    file('tree/ci/pipeline.yaml', 'stages: [build]\n');
    file('tree/node_modules/x/bad.yaml', 'kind: [\n');
    file('tree/list.json', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'shop' } }, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'y', namespace: 'shop' }, data: { n: 1 } }] }, null, 2));
    const r = await kgitops(['validate', join(WORK, 'tree'), '-o', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.summary).toMatchObject({ files: 4, objects: 4, skipped: 1 });
    const dup = out.diagnostics.find((d: { rule: string }) => d.rule === 'validate/duplicate-object');
    expect(dup).toMatchObject({ source: 'tree/b/copy.yml:1', message: 'the same object is also at tree/a/web.yaml:1' });
    // A List's items are objects, each at its own line: data.n of the second item is not a string.
    const type = out.diagnostics.find((d: { rule: string }) => d.rule === 'schema/type');
    expect(type).toMatchObject({ path: 'data.n', object: { name: 'y' } });
    expect(type.source).toMatch(/^tree\/list\.json:\d+$/);
    expect(Number(type.source.split(':')[1])).toBeGreaterThan(10);
  });

  it('accepts a status on a Kruise kind with a warning (the apiserver ignores it), and still validates the rest', async () => {
    const f = file('status/web.yaml', `${CLONESET}status:\n  replicas: 2\n  readyReplicas: 2\n`);
    const r = await kgitops(['validate', f, '-o', 'json', '--no-policies']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.diagnostics).toEqual([expect.objectContaining({ severity: 'warning', rule: 'schema/status-ignored', path: 'status', source: 'status/web.yaml:20' })]);
  });

  it('exit 2 for a path that does not exist and for no paths, saying what to give', async () => {
    const missing = await kgitops(['validate', 'nope.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error: nope.yaml: no such file or directory');
    const noApp = await kgitops(['validate', '-', '--policies', 'no-such-app'], CLONESET);
    expect(noApp.code).toBe(2);
    expect(noApp.stderr).toContain('error: --policies no-such-app: no such directory');
    expect(noApp.stderr).not.toMatch(/\bat .*:\d+:\d+\)/);
    const none = await kgitops(['validate']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error: nothing to validate');
    const help = await kgitops(['validate', '--help']);
    expect(help.stdout).toContain('Exit codes: 0 valid, 1 invalid, 2 usage error');
  });
});

describe('reading manifests', () => {
  it('cuts documents at --- and ... lines only, with each one\'s first line', () => {
    const docs = splitDocuments('a: 1\n---\nb: |\n  ---not a marker\n  x\n--- # comment\nc: 3\n...\n--- {d: 4}\n');
    expect(docs.map((d) => d.line)).toEqual([1, 3, 7, 9]);
    expect(docs[1]!.text).toContain('---not a marker');
    expect(readManifests('--- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n', 'x.yaml').objects[0]!.manifest.metadata.name).toBe('a');
  });

  it('turns JSON paths back into keys', () => {
    expect(pathSegments('spec.template.spec.containers[0]["app.kubernetes.io/name"]')).toEqual(['spec', 'template', 'spec', 'containers', 0, 'app.kubernetes.io/name']);
    expect(pathSegments('metadata.labels')).toEqual(['metadata', 'labels']);
  });

  it('finds a field\'s line by indentation exactly where the YAML parser does, on every path of real manifests', () => {
    const dir = join(ROOT, 'test/fixtures/kruise-samples');
    const texts = [
      ...readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(join(dir, f), 'utf8')),
      CLONESET,
      // As Helm and yaml libraries write: sequences at the key's indentation, quoted keys, comments.
      '# c\nmetadata:\n  "labels":\n    app: x # trailing\nspec:\n  containers:\n  - name: a\n    ports:\n    - containerPort: 80\n\n      name: http\n  - name: b\n    args: [x, y]\n',
      stringify({ spec: { template: { spec: { containers: [{ name: 'a', env: [{ name: 'X', value: '1' }, { name: 'Y' }] }] } } } }),
    ];
    let compared = 0;
    for (const text of texts) {
      for (const doc of splitDocuments(text)) {
        const value = readManifests(doc.text, 'x.yaml').objects[0]?.manifest;
        if (!value) continue;
        const walk = (v: unknown, keys: (string | number)[]) => {
          if (keys.length) {
            const fast = blockLineOf(doc.text, keys);
            if (fast !== undefined) {
              expect(fast, keys.join('.')).toBe(astLineOf(doc.text, keys));
              compared++;
            }
          }
          if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...keys, i]));
          else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...keys, k]);
        };
        walk(value, []);
      }
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('checks shares of the files in worker threads with the same result, in the same order, as one thread', async () => {
    const dir = join(WORK, 'threads');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 6; f++) {
      const docs = Array.from({ length: 20 }, (_, i) => CLONESET.replace('name: web', `name: web-${f}-${i}`).replace('replicas: 2', i % 7 === 3 ? 'replicas: two' : 'replicas: 2'));
      writeFileSync(join(dir, `part-${f}.yaml`), docs.join('---\n'));
    }
    const one = await validateFiles([dir], { threads: 1 });
    const three = await validateFiles([dir], { threads: 3 });
    expect(one.objects).toBe(120);
    expect(one.diagnostics.filter((d) => d.rule === 'schema/type')).toHaveLength(6 * 3);
    expect(three.diagnostics).toEqual(one.diagnostics);
    expect(three.kinds).toEqual(one.kinds);
  }, 60_000);
});
