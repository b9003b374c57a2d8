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

  it('leaves ref unset without --ref or ref: (the remote\'s default branch is followed), and refuses one that is no name', () => {
    expect(loadConfig({ repo: '.' }).ref).toBeUndefined();
    expect(loadConfig({}, withFile('repo: .\nref: trunk\n')).ref).toBe('trunk');
    expect(() => loadConfig({}, withFile('repo: .\nref: 42\n'))).toThrow('ref: 42 is not a branch, tag or commit');
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

  it('type-checks commits unless typecheck: false or --no-typecheck says otherwise', () => {
    expect(loadConfig({ repo: '.' }).typecheck).toBe(true);
    // Commander gives true for a --no-typecheck flag not passed: the file decides then.
    expect(loadConfig({ typecheck: true }, withFile('repo: .\ntypecheck: false\n')).typecheck).toBe(false);
    expect(loadConfig({ typecheck: false }, withFile('repo: .\ntypecheck: true\n')).typecheck).toBe(false);
    expect(() => loadConfig({}, withFile('repo: .\ntypecheck: "no"\n'))).toThrow('typecheck: "no" must be true or false');
  });

  it('needs a repo', () => {
    expect(() => loadConfig({}, mkdtempSync(join(tmpdir(), 'kgitops-config-')))).toThrow('no repo given');
  });

  it('derives the app name from the canonical repo URL (no credentials) and the path, never from the basename alone', () => {
    const withToken = loadConfig({ repo: 'https://user:token@git.example.com/acme/Shop-Front.git' });
    expect(withToken.app).toMatch(/^shop-front-[0-9a-f]{8}$/);
    expect(withToken).toMatchObject({ appDerived: true, source: { repo: 'git.example.com/acme/Shop-Front', path: '.' } });
    expect(JSON.stringify(withToken.source)).not.toContain('token');
    // The same repo however it is spelled: the same app.
    for (const spelling of ['https://git.example.com/acme/Shop-Front', 'git@git.example.com:acme/Shop-Front.git', 'ssh://git@GIT.example.com/acme/Shop-Front.git/']) {
      expect(loadConfig({ repo: spelling }).app).toBe(withToken.app);
    }
    // Another repo with the same basename, or another path in the same repo: another app.
    expect(loadConfig({ repo: 'https://git.example.com/other/Shop-Front.git' }).app).not.toBe(withToken.app);
    const deploy = loadConfig({ repo: withToken.repo, path: './deploy/' });
    expect(deploy.app).not.toBe(withToken.app);
    expect(deploy.source.path).toBe('deploy');
    expect(loadConfig({ repo: withToken.repo, path: 'deploy' }).app).toBe(deploy.app);
    // A name given is used as is.
    expect(loadConfig({ repo: withToken.repo, app: 'shop' })).toMatchObject({ app: 'shop', appDerived: false });
  });

  it('identifies a local repo by its absolute path: two directories called deploy are two apps', () => {
    const root = mkdtempSync(join(tmpdir(), 'kgitops-config-'));
    const a = loadConfig({ repo: join(root, 'a', 'deploy') });
    const b = loadConfig({ repo: join(root, 'b', 'deploy') });
    expect(a.app).toMatch(/^deploy-[0-9a-f]{8}$/);
    expect(b.app).toMatch(/^deploy-[0-9a-f]{8}$/);
    expect(a.app).not.toBe(b.app);
    expect(loadConfig({ repo: 'deploy' }, join(root, 'a')).app).toBe(a.app);
  });
});
