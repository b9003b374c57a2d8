/**
 * Who may approve a release step through git: keys configured by the operator, outside the
 * repository (`approvers:` in kgitops.yaml, `kgitops sync --approvers`). A committer can write
 * anything into approvals.yaml; what makes an entry count is a signature by one of these keys,
 * checked by git itself (see git-approvals.ts).
 *
 *   sshAllowedSigners  git's allowed-signers format (gpg.ssh.allowedSignersFile):
 *                      `principal[,principal...] [options] keytype base64-key [comment]`
 *   gpgPublicKeys      armored (or binary) OpenPGP public keys; each key's user id is the approver
 *
 * The gpg keys are imported into a gpg home of the engine's own (under the cache directory), in
 * which each of them, and nothing else, is trusted: the user's ~/.gnupg is never consulted.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SignatureTrust } from '../source/git.js';

export interface ApproversConfig {
  /** An allowed-signers file (ssh keys and their principals). */
  readonly sshAllowedSigners?: string;
  /** A file of OpenPGP public keys. */
  readonly gpgPublicKeys?: string;
}

export class ApproversError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'ApproversError';
  }
}

const SSH_KEY_TYPE = /^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)(-cert-v01@openssh\.com)?$/;

/**
 * Problems of an allowed-signers file's text, each with its line: a line must name principals
 * and carry a key type and key (ssh-keygen checks the rest when it verifies).
 */
export function allowedSignersProblems(text: string, file: string): string[] {
  const problems: string[] = [];
  let keys = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const words = line.split(/\s+/);
    const at = words.findIndex((w, j) => j > 0 && SSH_KEY_TYPE.test(w));
    if (at < 1 || !words[at + 1] || !/^[A-Za-z0-9+/]+=*$/.test(words[at + 1]!)) {
      problems.push(`${file}:${i + 1}: expected "principal[,principal...] [options] keytype key", e.g. "alice@example.com ssh-ed25519 AAAA..."`);
      return;
    }
    keys++;
  });
  if (!problems.length && keys === 0) problems.push(`${file}: lists no key, so nobody could approve through git`);
  return problems;
}

/** Checks the configured files exist and look right (at start-up, with file and line). */
export function validateApprovers(config: ApproversConfig): void {
  if (config.sshAllowedSigners) {
    const text = readText(config.sshAllowedSigners, 'approvers.sshAllowedSigners');
    const problems = allowedSignersProblems(text, config.sshAllowedSigners);
    if (problems.length) throw new ApproversError(problems.join('\n'), 'each line: the approver\'s name (the principal), then the public key as in their .pub file');
  }
  if (config.gpgPublicKeys) {
    const text = readText(config.gpgPublicKeys, 'approvers.gpgPublicKeys');
    if (!text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----') && !/^[\x80-\xff]/.test(text)) {
      throw new ApproversError(`${config.gpgPublicKeys}: not an OpenPGP public key file`, 'export the approvers\' keys with gpg --armor --export <key id> > approvers.asc');
    }
    if (text.includes('PRIVATE KEY BLOCK')) {
      throw new ApproversError(`${config.gpgPublicKeys}: holds a private key; approvers need only public keys`, 'export with gpg --armor --export (not --export-secret-keys), and replace that key');
    }
  }
}

function readText(file: string, key: string): string {
  if (!existsSync(file)) throw new ApproversError(`${key}: file ${file} not found`, 'give the path of a file outside the repository');
  try {
    return readFileSync(file, 'latin1');
  } catch (e) {
    throw new ApproversError(`${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * What signature checks trust: the allowed-signers file as it is, and a gpg home holding only
 * the configured keys (made once per content of the key file, in `cacheDir`).
 */
export async function prepareSignatureTrust(config: ApproversConfig, cacheDir: string): Promise<SignatureTrust> {
  const keys = config.gpgPublicKeys ? await readFile(config.gpgPublicKeys) : undefined;
  const id = keys ? createHash('sha256').update(keys).digest('hex').slice(0, 16) : 'none';
  const home = join(cacheDir, 'approvers', `gnupg-${id}`);
  if (!existsSync(join(home, 'ready'))) await makeGnupgHome(home, config.gpgPublicKeys);
  // Absolute: git runs in the mirror.
  return { sshAllowedSignersFile: config.sshAllowedSigners ? resolve(config.sshAllowedSigners) : '/dev/null', gnupgHome: resolve(home) };
}

async function makeGnupgHome(home: string, keyFile: string | undefined): Promise<void> {
  const tmp = `${home}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  await chmod(tmp, 0o700);
  try {
    // direct: a key is valid because we say so, never through signatures of other keys.
    await writeFile(join(tmp, 'gpg.conf'), 'trust-model direct\nno-auto-key-retrieve\nno-autostart\n');
    if (keyFile) {
      await gpg(tmp, ['--import', keyFile]);
      const listing = await gpg(tmp, ['--with-colons', '--list-keys']);
      const primaries: string[] = [];
      let afterPub = false;
      for (const line of listing.split('\n')) {
        const fields = line.split(':');
        if (fields[0] === 'pub') afterPub = true;
        else if (fields[0] === 'fpr' && afterPub) { primaries.push(fields[9]!); afterPub = false; } else if (fields[0] !== 'fpr') afterPub = false;
      }
      if (!primaries.length) throw new ApproversError(`${keyFile}: gpg found no public key in it`, 'export the approvers\' keys with gpg --armor --export <key id>');
      // Ultimate trust for exactly these keys: their good signatures are "G" to git.
      await gpg(tmp, ['--import-ownertrust'], primaries.map((f) => `${f}:6:\n`).join(''));
    }
    await writeFile(join(tmp, 'ready'), '');
    await rm(home, { recursive: true, force: true });
    await rename(tmp, home);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

function gpg(home: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('gpg', ['--batch', '--no-tty', '--homedir', home, ...args],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' }, timeout: 30_000, encoding: 'utf8' },
      (e, stdout, stderr) => {
        if (!e) { resolve(stdout); return; }
        const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'gpg is not installed' : stderr.trim().split('\n').filter((l) => !/^gpg: (keybox|.*trustdb created)/.test(l)).slice(-3).join('; ') || e.message;
        reject(new ApproversError(`cannot prepare the gpg approver keys (gpg ${args[0]}): ${why}`, 'check approvers.gpgPublicKeys, or install gpg'));
      });
    if (input !== undefined) child.stdin?.end(input);
  });
}
