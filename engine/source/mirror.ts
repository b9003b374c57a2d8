/**
 * The files of a mirror that are configuration, not data: the engine writes them when it creates
 * the mirror and nothing may change them afterwards. Code a commit runs (an app, a policy, an
 * npm script) could otherwise plant a hook, an fsmonitor program, a smudge filter, a url rewrite
 * or an include in the mirror, and the engine's next git command would run or follow it.
 * findTampering compares them with what the engine wrote; GitSource recreates a mirror that
 * differs (its objects are only a cache of the remote).
 *
 * Not covered here: objects and refs. Refs are overwritten by every fetch; objects are content
 * addressed, but a planted pack could still lie about a commit's content: keeping the mirror out
 * of reach of repo code (engine/sandbox) is what protects those.
 */
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** mirror.git/config as the engine writes it (what `git init --bare` writes, and a note). */
export const MIRROR_CONFIG = `# Written by kruise-gitops. Any change to this file makes the engine recreate the mirror.
[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = true
`;

/**
 * mirror.git/info/attributes, which ranks above every .gitattributes of a commit: no filter
 * (smudge, process) and no $Id$ expansion, so a checkout holds the bytes that were committed and
 * checking it out runs no program, whatever filter a commit's .gitattributes names.
 */
export const MIRROR_ATTRIBUTES = `# Written by kruise-gitops: checkouts hold the committed bytes; no filter program ever runs.
* -filter -ident
`;

/** Writes the engine's own files into a freshly initialized bare repository. */
export async function writeMirrorFiles(dir: string): Promise<void> {
  await writeFile(join(dir, 'config'), MIRROR_CONFIG);
  await mkdir(join(dir, 'info'), { recursive: true });
  await writeFile(join(dir, 'info', 'attributes'), MIRROR_ATTRIBUTES);
}

/**
 * What in the mirror at `dir` the engine did not write (a short description for the log), or
 * undefined when its configuration is as the engine left it.
 */
export async function findTampering(dir: string): Promise<string | undefined> {
  const top = await lstat(dir);
  if (top.isSymbolicLink() || !top.isDirectory()) return 'mirror.git is not a plain directory';

  const config = await fileText(join(dir, 'config'));
  if (config === undefined) return 'config is missing or not a regular file';
  if (!config.startsWith(MIRROR_CONFIG.split('\n')[0]!)) return 'config lacks the line the engine writes first (made by an earlier kgitops, or replaced)';
  if (config !== MIRROR_CONFIG) return `config was changed (${changedLines(config, MIRROR_CONFIG)})`;

  const info = await names(join(dir, 'info'));
  const extraInfo = (info ?? []).filter((n) => n !== 'attributes');
  if (extraInfo.length) return `info/ holds ${extraInfo.join(', ')} (grafts, attributes or excludes the engine did not write)`;
  if ((await fileText(join(dir, 'info', 'attributes'))) !== MIRROR_ATTRIBUTES) return 'info/attributes was changed or removed';

  const hooks = await names(join(dir, 'hooks'));
  if (hooks?.length) return `hooks/ holds ${hooks.slice(0, 5).join(', ')}`;
  if (hooks === null) return 'hooks is not a directory';

  for (const file of ['objects/info/alternates', 'objects/info/http-alternates', 'shallow', 'commondir', 'gitdir', 'config.worktree']) {
    if (await exists(join(dir, file))) return `${file} exists (the engine never writes it)`;
  }

  for (const name of (await names(join(dir, 'worktrees'))) ?? []) {
    const admin = join(dir, 'worktrees', name);
    for (const file of ['config.worktree', 'info', 'hooks']) {
      if (await exists(join(admin, file))) return `worktrees/${name}/${file} exists (the engine never writes it)`;
    }
    const commondir = await fileText(join(admin, 'commondir'));
    if (commondir !== undefined && commondir.trim() !== '../..') return `worktrees/${name}/commondir points elsewhere`;
  }
  return undefined;
}

/** The first lines that differ from the engine's version, for the log (control characters removed). */
function changedLines(actual: string, expected: string): string {
  const ours = new Set(expected.split('\n').map((l) => l.trim()));
  // eslint-disable-next-line no-control-regex
  const theirs = actual.split('\n').map((l) => l.trim().replace(/[\x00-\x1f\x7f]/g, '?')).filter((l) => l && !ours.has(l));
  if (!theirs.length) return 'lines removed or reordered';
  const shown = theirs.slice(0, 3).map((l) => (l.length > 80 ? `${l.slice(0, 77)}...` : l)).join('; ');
  return `${shown}${theirs.length > 3 ? `; ${theirs.length - 3} more line(s)` : ''}`;
}

/** Entries of a directory; undefined when it does not exist, null when it is not a directory. */
async function names(dir: string): Promise<string[] | undefined | null> {
  try {
    const info = await lstat(dir);
    if (!info.isDirectory()) return null;
    return (await readdir(dir)).sort();
  } catch {
    return undefined;
  }
}

async function fileText(file: string): Promise<string | undefined> {
  try {
    if (!(await lstat(file)).isFile()) return undefined;
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
