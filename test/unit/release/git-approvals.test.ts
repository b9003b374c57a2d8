/**
 * Approvals in git count only when signed by an allowed key: keys made with ssh-keygen (and gpg)
 * in the test, commits signed with `git commit -S`, read back through GitSource from the reconciled
 * commit. Allowed signer, unknown signer, unsigned, an unsigned amend of a signed commit, a signed
 * commit changed after signing, a step line edited later, a step line deleted later, a merge, a
 * symlinked approvals.yaml, and approvals with no approvers configured.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareSignatureTrust } from '../../../engine/release/approvers.js';
import { readGitApprovals } from '../../../engine/release/git-approvals.js';
import { GitSource, type SignatureTrust } from '../../../engine/source/git.js';
import { cleanEnv, git, initRepo } from '../../fixtures/git.js';
import { tempDir } from '../source/helpers.js';

const RELEASE = 'shop/web@0123456789';
const OTHER = 'shop/api@abcdef0123';

let tmp: { dir: string; cleanup(): void };
let work: string;
let trust: SignatureTrust;
let keys: Record<'alice' | 'bob' | 'mallory', string>;

function sshKey(name: string): string {
  const file = join(tmp.dir, 'keys', name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return file;
}

function fingerprint(key: string): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
}

/** Writes files and commits them as `who`, signed with `key` (ssh) when given. */
function commitAs(who: string, files: Record<string, string>, o: { key?: string; message?: string } = {}): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(work, path, '..'), { recursive: true });
    writeFileSync(join(work, path), content);
  }
  git(work, 'add', '-A');
  const identity = ['-c', `user.name=${who}`, '-c', `user.email=${who}@example.com`];
  const signing = o.key ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${o.key}`] : [];
  git(work, ...identity, ...signing, 'commit', '-q', ...(o.key ? ['-S'] : ['--no-gpg-sign']), '-m', o.message ?? `${who} changes ${Object.keys(files).join(', ')}`);
  return git(work, 'rev-parse', 'HEAD');
}

const entry = (release: string, step?: number, by = 'release-manager') => `  - release: ${release}\n${step !== undefined ? `    step: ${step}\n` : ''}    by: ${by}\n`;

async function approvals(o: { path?: string; trust?: SignatureTrust | null } = {}) {
  const src = new GitSource({ url: work, cacheDir: join(tmp.dir, 'cache') });
  const { sha } = await src.fetch();
  const t = o.trust === null ? undefined : o.trust ?? trust;
  return readGitApprovals({ history: src, commit: sha, path: o.path ?? 'deploy/approvals.yaml', trust: t ? async () => t : undefined });
}

beforeEach(async () => {
  tmp = tempDir('git-approvals');
  work = initRepo(join(tmp.dir, 'work'));
  mkdirSync(join(tmp.dir, 'keys'));
  keys = { alice: sshKey('alice'), bob: sshKey('bob'), mallory: sshKey('mallory') };
  // Alice and Bob may approve; Mallory's key is a valid key, just not an approver's.
  const allowed = join(tmp.dir, 'allowed_signers');
  writeFileSync(allowed, ['alice', 'bob'].map((n) => `${n}@example.com ${readFileSync(`${keys[n as 'alice']}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n');
  trust = await prepareSignatureTrust({ sshAllowedSigners: allowed }, join(tmp.dir, 'cache'));
  commitAs('alice', { 'deploy/cdk8s.yaml': 'app: npx tsx main.ts\n' }, { key: keys.alice });
});
afterEach(() => tmp.cleanup());

describe('approvals.yaml entries', () => {
  it('count when signed by an allowed signer, recorded as that principal with key and commit, not as by:', async () => {
    const sha = commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 2)}` }, { key: keys.alice });
    const r = await approvals();
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.byRelease).toEqual({ [RELEASE]: [{ by: 'alice@example.com', commit: sha, key: fingerprint(keys.alice), step: 1, note: 'by: release-manager' }] });
  });

  it('do not count when signed by a key that is not an allowed signer', async () => {
    const sha = commitAs('mallory', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 2)}` }, { key: keys.mallory });
    const r = await approvals();
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([
      `deploy/approvals.yaml:2: approval of ${RELEASE} step 2 does not count: line 2 comes from commit ${sha.slice(0, 12)} by mallory <mallory@example.com>, `
      + `which is signed by key ${fingerprint(keys.mallory)}, which is not an allowed approver`,
    ]);
  });

  it('do not count when unsigned, whatever by: says', async () => {
    const sha = commitAs('mallory', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 2, 'alice@example.com')}` });
    const r = await approvals();
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([`deploy/approvals.yaml:2: approval of ${RELEASE} step 2 does not count: line 2 comes from commit ${sha.slice(0, 12)} by mallory <mallory@example.com>, which is not signed`]);
  });

  it('do not count when an allowed signer\'s commit was amended by someone else', async () => {
    commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 1)}` }, { key: keys.alice });
    // Mallory amends Alice's commit (author stays Alice) to approve step 2 instead.
    writeFileSync(join(work, 'deploy/approvals.yaml'), `approvals:\n${entry(RELEASE, 2)}`);
    git(work, 'add', '-A');
    git(work, '-c', 'user.name=mallory', '-c', 'user.email=mallory@example.com', 'commit', '-q', '--amend', '--no-edit', '--no-gpg-sign');
    const amended = git(work, 'rev-parse', 'HEAD');
    expect(git(work, 'log', '-1', '--format=%an')).toBe('alice');
    const r = await approvals();
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([expect.stringContaining(`line 2 comes from commit ${amended.slice(0, 12)} by alice <alice@example.com>, which is not signed`)]);
  });

  it('do not count when a signed commit was changed after signing (its signature kept)', async () => {
    const signed = commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 1)}` }, { key: keys.alice });
    // The same commit object, signature and all, with another tree: approves step 2.
    writeFileSync(join(work, 'deploy/approvals.yaml'), `approvals:\n${entry(RELEASE, 2)}`);
    git(work, 'add', '-A');
    const tree = git(work, 'write-tree');
    const forged = git(work, 'cat-file', 'commit', signed).replace(/^tree [0-9a-f]+/, `tree ${tree}`);
    const sha = execFileSync('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: work, input: forged, env: cleanEnv(), encoding: 'utf8' }).trim();
    git(work, 'update-ref', 'refs/heads/main', sha);
    const r = await approvals();
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([expect.stringContaining(`comes from commit ${sha.slice(0, 12)} by alice <alice@example.com>, which has a bad signature`)]);
  });

  it('an entry whose step line was edited by a later unsigned commit does not count; an untouched one does', async () => {
    const signed = commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 1)}${entry(OTHER, 1)}` }, { key: keys.alice });
    const edit = commitAs('mallory', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 2)}${entry(OTHER, 1)}` });
    const r = await approvals();
    expect(r.byRelease).toEqual({ [OTHER]: [expect.objectContaining({ by: 'alice@example.com', commit: signed, step: 0 })] });
    expect(r.warnings).toEqual([`deploy/approvals.yaml:2: approval of ${RELEASE} step 2 does not count: line 3 comes from commit ${edit.slice(0, 12)} by mallory <mallory@example.com>, which is not signed`]);
  });

  it('an entry whose step line was deleted by a later unsigned commit (widening it to every step) does not count', async () => {
    commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 1)}` }, { key: keys.alice });
    // Only a deletion: every remaining line still blames to Alice's signed commit.
    commitAs('mallory', { 'deploy/approvals.yaml': `approvals:\n  - release: ${RELEASE}\n    by: release-manager\n` });
    const r = await approvals();
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([expect.stringMatching(new RegExp(`approval of ${RELEASE} does not count: the signed commit [0-9a-f]{12} \\(alice@example.com\\) wrote line 2 as part of an approval of ${RELEASE} step 1; lines were removed since`))]);
  });

  it('splicing two signed entries by deleting lines between them does not make a new approval', async () => {
    commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 1)}${entry(OTHER, 3)}` }, { key: keys.alice });
    // Keep RELEASE's release line and OTHER's step line: "RELEASE step 3", which nobody signed.
    commitAs('mallory', { 'deploy/approvals.yaml': `approvals:\n  - release: ${RELEASE}\n    step: 3\n    by: release-manager\n` });
    expect(git(work, 'blame', '--porcelain', 'HEAD', '--', 'deploy/approvals.yaml').match(/^[0-9a-f]{40} /gm)!.every((l) => !l.startsWith(git(work, 'rev-parse', 'HEAD')))).toBe(true);
    const r = await approvals();
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([expect.stringContaining(`approval of ${RELEASE} step 3 does not count: the signed commit`)]);
  });

  it('a later signed edit by another allowed signer counts as theirs', async () => {
    commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 1)}` }, { key: keys.alice });
    const bobs = commitAs('bob', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 2)}` }, { key: keys.bob });
    const r = await approvals();
    expect(r.warnings).toEqual([]);
    expect(r.byRelease[RELEASE]).toEqual([expect.objectContaining({ by: 'bob@example.com', commit: bobs, step: 1 })]);
  });

  it('are followed through an unsigned merge to the signed commit that wrote them', async () => {
    git(work, 'checkout', '-q', '-b', 'approve');
    const signed = commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 2)}` }, { key: keys.alice });
    git(work, 'checkout', '-q', 'main');
    commitAs('mallory', { 'README.md': 'unrelated\n' });
    git(work, '-c', 'user.name=merger', '-c', 'user.email=merger@example.com', 'merge', '-q', '--no-ff', '--no-gpg-sign', '-m', 'merge approve', 'approve');
    const r = await approvals();
    expect(r.warnings).toEqual([]);
    expect(r.byRelease[RELEASE]).toEqual([expect.objectContaining({ by: 'alice@example.com', commit: signed })]);
  });

  it('a symlinked approvals.yaml is refused and never followed', async () => {
    mkdirSync(join(work, 'deploy'), { recursive: true });
    writeFileSync(join(work, 'elsewhere.yaml'), `approvals:\n${entry(RELEASE, 2)}# SECRET-CONTENT\n`);
    symlinkSync('../elsewhere.yaml', join(work, 'deploy/approvals.yaml'));
    commitAs('alice', {}, { key: keys.alice, message: 'link' });
    const r = await approvals();
    expect(r.byRelease).toEqual({});
    expect(r.problems).toEqual([expect.stringMatching(/^deploy\/approvals\.yaml in commit [0-9a-f]{12} is a symbolic link \(git mode 120000\); approvals are read only from a regular file, and a link is never followed/)]);
    expect(r.problems.join()).not.toContain('SECRET');
  });

  it('with no approvers configured, git approvals are off and say so', async () => {
    commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n${entry(RELEASE, 2)}` }, { key: keys.alice });
    const r = await approvals({ trust: null });
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([expect.stringContaining('deploy/approvals.yaml: git approvals are off, so its entries do not count: no approvers are configured')]);
    // No file: nothing to say.
    expect(await approvals({ path: 'other/approvals.yaml', trust: null })).toEqual({ byRelease: {}, problems: [], warnings: [] });
  });

  it('malformed files and aliases are errors with file and line', async () => {
    commitAs('alice', { 'deploy/approvals.yaml': `approvals:\n  - release: web\n    by: bob\n` }, { key: keys.alice });
    expect((await approvals()).problems).toEqual(['deploy/approvals.yaml:2: approvals[0].release: expected a release id like "shop/storefront@3f9c2a1b7d" (kgitops status shows it), got "web"']);
    commitAs('alice', { 'deploy/approvals.yaml': `base: &b\n  release: ${RELEASE}\napprovals:\n  - *b\n` }, { key: keys.alice });
    expect((await approvals()).problems).toEqual(['deploy/approvals.yaml: uses YAML anchors or aliases (*name); write every entry out in full']);
  });
});

describe('gpg approvers', () => {
  it('a commit signed with an allowed gpg key counts as its user id; a gpg key not in the file does not', async () => {
    const signerHome = join(tmp.dir, 'gpg-signer');
    mkdirSync(signerHome, { mode: 0o700 });
    const gpg = (...args: string[]) => execFileSync('gpg', ['--batch', '--no-tty', '--homedir', signerHome, '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    gpg('--quick-gen-key', 'Carol <carol@example.com>', 'ed25519', 'sign', 'never');
    gpg('--quick-gen-key', 'Dave <dave@example.com>', 'ed25519', 'sign', 'never');
    writeFileSync(join(tmp.dir, 'carol.asc'), gpg('--armor', '--export', 'carol@example.com'));
    const gpgTrust = await prepareSignatureTrust({ gpgPublicKeys: join(tmp.dir, 'carol.asc') }, join(tmp.dir, 'cache'));
    const signWith = (uid: string, step: number) => {
      writeFileSync(join(work, 'deploy/approvals.yaml'), `approvals:\n${entry(RELEASE, step)}`);
      git(work, 'add', '-A');
      execFileSync('git', ['-c', 'user.name=x', '-c', 'user.email=x@example.com', '-c', `user.signingkey=${uid}`, 'commit', '-q', '-S', '-m', `by ${uid}`],
        { cwd: work, env: { ...cleanEnv(), GNUPGHOME: signerHome }, stdio: 'ignore' });
      return git(work, 'rev-parse', 'HEAD');
    };
    const carols = signWith('carol@example.com', 2);
    const fpr = gpg('--with-colons', '--fingerprint', 'carol@example.com').split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9];
    expect((await approvals({ trust: gpgTrust })).byRelease[RELEASE]).toEqual([{ by: 'Carol <carol@example.com>', commit: carols, key: fpr, step: 1, note: 'by: release-manager' }]);

    signWith('dave@example.com', 3);
    const r = await approvals({ trust: gpgTrust });
    expect(r.byRelease).toEqual({});
    expect(r.warnings).toEqual([expect.stringContaining('which has a signature that cannot be checked')]);
  });
});
