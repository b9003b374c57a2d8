/** kgitops.yaml and flags: checked up front, with the key that is wrong and what is allowed. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../engine/config.js';

function withFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kgitops-config-'));
  writeFileSync(join(dir, 'kgitops.yaml'), yaml);
  return dir;
}

describe('loadConfig', () => {
  it('reads kgitops.yaml, resolves paths against it, and lets flags win', () => {
    const dir = withFile('app: shop\nrepo: ./repo\nref: release\npath: deploy\ninterval: 1m\nprune:\n  maxFraction: 0.25\ncluster:\n  kubeconfig: kc.yaml\n');
    const c = loadConfig({ ref: 'main' }, dir);
    expect(c).toMatchObject({ app: 'shop', repo: join(dir, 'repo'), ref: 'main', path: 'deploy', intervalMs: 60_000, prune: { enabled: true, maxFraction: 0.25, allowMass: false }, cluster: { kubeconfig: join(dir, 'kc.yaml') } });
  });

  it('names an unknown key and lists the allowed ones', () => {
    const dir = withFile('repo: .\nintervall: 5m\n');
    expect(() => loadConfig({}, dir)).toThrow(ConfigError);
    expect(() => loadConfig({}, dir)).toThrow(/unknown key\(s\) intervall/);
  });

  it('rejects a bad duration and a bad prune fraction with the key', () => {
    expect(() => loadConfig({ repo: '.', interval: 'soon' })).toThrow('interval: "soon" is not a duration');
    expect(() => loadConfig({ repo: '.', maxPruneFraction: '2' })).toThrow('prune.maxFraction must be in (0, 1], got 2');
  });

  it('needs a repo', () => {
    expect(() => loadConfig({}, mkdtempSync(join(tmpdir(), 'kgitops-config-')))).toThrow('no repo given');
  });

  it('derives the app name from the repo URL without credentials', () => {
    expect(loadConfig({ repo: 'https://user:token@git.example.com/acme/Shop-Front.git' }).app).toBe('shop-front');
  });
});
