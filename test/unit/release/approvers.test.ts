/**
 * Configuring approvers: `approvers:` in kgitops.yaml and --approvers / --approvers-gpg, checked
 * at start-up with the file and line of what is wrong.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../engine/config.js';
import { tempDir } from '../source/helpers.js';

let tmp: { dir: string; cleanup(): void };
let signers: string;

beforeEach(() => {
  tmp = tempDir('approvers');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(tmp.dir, 'alice')]);
  signers = join(tmp.dir, 'etc', 'allowed_signers');
  mkdirSync(join(tmp.dir, 'etc'));
  writeFileSync(signers, `# approvers\nalice@example.com ${readFileSync(join(tmp.dir, 'alice.pub'), 'utf8')}`);
});
afterEach(() => tmp.cleanup());

function configWith(approvers: string): ReturnType<typeof loadConfig> {
  writeFileSync(join(tmp.dir, 'kgitops.yaml'), `repo: .\napprovers: ${approvers}\n`);
  return loadConfig({}, tmp.dir);
}

function configError(f: () => unknown): ConfigError {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(ConfigError); return e as ConfigError; }
  throw new Error('expected a ConfigError');
}

describe('approvers configuration', () => {
  it('is off unless configured', () => {
    expect(loadConfig({ repo: '.' }, tmp.dir).approvers).toBeUndefined();
  });

  it('takes a path (an allowed-signers file) or { sshAllowedSigners, gpgPublicKeys }, relative to kgitops.yaml', () => {
    expect(configWith('etc/allowed_signers').approvers).toEqual({ sshAllowedSigners: signers });
    expect(configWith('{ sshAllowedSigners: etc/allowed_signers }').approvers).toEqual({ sshAllowedSigners: signers });
  });

  it('--approvers wins over the file and is relative to the working directory', () => {
    // The file's value names no file: it would fail if it were used.
    writeFileSync(join(tmp.dir, 'kgitops.yaml'), 'repo: .\napprovers: missing\n');
    expect(loadConfig({ approvers: 'etc/allowed_signers' }, tmp.dir).approvers).toEqual({ sshAllowedSigners: signers });
  });

  it('says which line of an allowed-signers file is wrong, and refuses an empty one', () => {
    writeFileSync(signers, `alice@example.com ${readFileSync(join(tmp.dir, 'alice.pub'), 'utf8')}ssh-ed25519 AAAAnoPrincipal\n`);
    expect(configError(() => configWith('etc/allowed_signers')).message).toBe(`${signers}:2: expected "principal[,principal...] [options] keytype key", e.g. "alice@example.com ssh-ed25519 AAAA..."`);
    writeFileSync(signers, '# nobody yet\n');
    expect(configError(() => configWith('etc/allowed_signers')).message).toBe(`${signers}: lists no key, so nobody could approve through git`);
  });

  it('refuses a missing file, unknown keys, and a gpg file that holds no public keys', () => {
    expect(configError(() => configWith('etc/nope')).message).toBe(`approvers.sshAllowedSigners: file ${join(tmp.dir, 'etc/nope')} not found`);
    expect(configError(() => configWith('{ ssh: etc/allowed_signers }')).message).toBe('approvers: unknown key(s) ssh');
    writeFileSync(join(tmp.dir, 'keys.asc'), '-----BEGIN PGP PRIVATE KEY BLOCK-----\n...\n');
    expect(configError(() => configWith('{ gpgPublicKeys: keys.asc }')).message).toBe(`${join(tmp.dir, 'keys.asc')}: not an OpenPGP public key file`);
  });
});
