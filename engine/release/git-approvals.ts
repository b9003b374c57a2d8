/**
 * Approvals committed to git (approvals.yaml next to cdk8s.yaml), verified rather than taken at
 * their word. Anyone who can push can write `by: release-manager`; what makes an entry count is
 * who signed the commits its lines come from.
 *
 * For the reconciled commit, the file is read from git's objects (never from the checkout, whose
 * files code may have changed; a symlink is refused, never followed) and blamed line by line
 * (`git blame`, so a merge keeps the commit that wrote a line). An entry counts when:
 *
 *   1. every line of it comes from a commit with a good signature by an allowed key (git's %G?
 *      is G, checked against the configured approvers only): a later unsigned edit of any of its
 *      lines, or an unsigned amend of the signed commit, makes it not count;
 *   2. in the signed commit its `step:` (or else its `release:`) line comes from, that line
 *      belonged to an entry with the same release and step. Blame cannot see deleted lines; this
 *      is what stops an unsigned commit from widening an approval by deleting a `step:` line, or
 *      from splicing the release of one entry onto the step of another.
 *
 * The approver recorded is that commit's signer: the principal of the allowed-signers file (ssh)
 * or the key's user id (gpg), with the key's fingerprint and the commit. The `by:` text is kept
 * as a note only. Entries that do not count are returned as warnings, each with its reason.
 */
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import type { BlameLine, CommitFile, CommitSignature, SignatureTrust } from '../source/git.js';
import type { GitApproval } from './machine.js';

/** What the engine needs from git to check approvals (GitSource has it). */
export interface GitHistory {
  readFile(sha: string, path: string): Promise<CommitFile | undefined>;
  blame(sha: string, path: string): Promise<BlameLine[]>;
  signatures(shas: readonly string[], trust: SignatureTrust): Promise<Map<string, CommitSignature>>;
}

export interface ApprovalsRead {
  /** Approvals that count, by release id. */
  readonly byRelease: Record<string, GitApproval[]>;
  /** What makes the commit invalid: a malformed file, a symlink. */
  readonly problems: string[];
  /** Entries that do not count (and why), or that git approvals are off. */
  readonly warnings: string[];
}

export interface ReadGitApprovalsOptions {
  readonly history: GitHistory;
  /** The reconciled commit. */
  readonly commit: string;
  /** approvals.yaml's path in the repository, e.g. deploy/approvals.yaml. */
  readonly path: string;
  /** The allowed approvers; unset: git approvals are off. Called only when the file exists. */
  readonly trust?: () => Promise<SignatureTrust>;
}

const RELEASE_ID = /^[^@\s]+@[0-9a-f]{10}$/;

/** One entry of approvals.yaml and where it is. */
interface Entry {
  readonly index: number;
  readonly release: string;
  /** As written: 1-based; unset approves every approval gate of the release. */
  readonly step?: number;
  readonly note?: string;
  readonly firstLine: number;
  readonly lastLine: number;
  readonly releaseLine: number;
  readonly stepLine?: number;
}

export async function readGitApprovals(o: ReadGitApprovalsOptions): Promise<ApprovalsRead> {
  const none: ApprovalsRead = { byRelease: {}, problems: [], warnings: [] };
  const short = o.commit.slice(0, 12);
  const file = await o.history.readFile(o.commit, o.path);
  if (!file) return none;
  if (file.kind !== 'file') {
    const what = file.kind === 'symlink' ? 'a symbolic link' : file.kind === 'directory' ? 'a directory' : 'a submodule';
    return {
      ...none,
      problems: [`${o.path} in commit ${short} is ${what} (git mode ${file.mode}); approvals are read only from a regular file, and a link is never followed: commit the file itself`],
    };
  }
  if (!o.trust) {
    return {
      ...none,
      warnings: [`${o.path}: git approvals are off, so its entries do not count: no approvers are configured (approvers: in kgitops.yaml, or kgitops sync --approvers <allowed_signers>); kgitops approve still works`],
    };
  }

  const parsed = parseEntries(file.content ?? '', o.path);
  if (parsed.problems.length) return { ...none, problems: parsed.problems };
  if (!parsed.entries.length) return none;

  const trust = await o.trust();
  const blame = new Map((await o.history.blame(o.commit, o.path)).map((b) => [b.line, b]));
  const commits = new Set<string>();
  for (const e of parsed.entries) {
    for (let l = e.firstLine; l <= e.lastLine; l++) {
      const b = blame.get(l);
      if (b) commits.add(b.commit);
    }
  }
  const signatures = await o.history.signatures([...commits], trust);
  // Earlier versions of the file, parsed once each (a commit's entries at a path).
  const earlier = new Map<string, Promise<Entry[]>>();
  const entriesAt = (commit: string, path: string): Promise<Entry[]> => {
    const key = `${commit}:${path}`;
    let p = earlier.get(key);
    if (!p) {
      p = o.history.readFile(commit, path).then((f) => (f?.kind === 'file' ? parseEntries(f.content ?? '', path).entries : []));
      earlier.set(key, p);
    }
    return p;
  };

  const byRelease: Record<string, GitApproval[]> = {};
  const warnings: string[] = [];
  for (const e of parsed.entries) {
    const what = `${o.path}:${e.firstLine}: approval of ${e.release}${e.step !== undefined ? ` step ${e.step}` : ''}`;
    const unsigned = firstUntrustedLine(e, blame, signatures);
    if (unsigned) {
      warnings.push(`${what} does not count: ${unsigned}`);
      continue;
    }
    let approver: { line: BlameLine; signature: CommitSignature } | undefined;
    let mismatch: string | undefined;
    for (const line of [e.stepLine, e.releaseLine]) {
      if (line === undefined) continue;
      const b = blame.get(line)!;
      const then = (await entriesAt(b.commit, b.originalPath)).find((x) => x.firstLine <= b.originalLine && b.originalLine <= x.lastLine);
      if (then && then.release === e.release && then.step === e.step) {
        approver = { line: b, signature: signatures.get(b.commit)! };
        break;
      }
      mismatch ??= `the signed commit ${b.commit.slice(0, 12)} (${signatures.get(b.commit)?.signer}) wrote line ${line} as part of ${then ? `an approval of ${then.release}${then.step !== undefined ? ` step ${then.step}` : ''}` : 'something else'}; `
        + 'lines were removed since, which no signature covers';
    }
    if (!approver) {
      warnings.push(`${what} does not count: ${mismatch}`);
      continue;
    }
    (byRelease[e.release] ??= []).push({
      by: approver.signature.signer, commit: approver.line.commit, key: approver.signature.fingerprint,
      ...(e.step !== undefined ? { step: e.step - 1 } : {}), ...(e.note ? { note: e.note } : {}),
    });
  }
  return { byRelease, problems: [], warnings };
}

/** Why the first line of `e` whose commit is not signed by an allowed key does not count. */
function firstUntrustedLine(e: Entry, blame: Map<number, BlameLine>, signatures: Map<string, CommitSignature>): string | undefined {
  for (let l = e.firstLine; l <= e.lastLine; l++) {
    const b = blame.get(l);
    if (!b) return `git blame does not cover line ${l}`;
    const s = signatures.get(b.commit);
    if (s?.status === 'G') continue;
    const key = s?.fingerprint ? ` ${s.fingerprint}` : '';
    const why = !s ? 'could not be checked'
      : s.status === 'N' ? 'is not signed'
        : s.status === 'U' ? `is signed by key${key}, which is not an allowed approver`
          : s.status === 'E' ? `has a signature that cannot be checked (key${key || ' unknown'} is not an allowed approver, or the signature is malformed)`
            : s.status === 'B' ? 'has a bad signature (the commit was changed after it was signed)'
              : s.status === 'X' ? 'has an expired signature'
                : s.status === 'Y' ? `is signed by an expired key${key}`
                  : `is signed by a revoked key${key}`;
    return `line ${l} comes from commit ${b.commit.slice(0, 12)} by ${b.author || 'unknown'}, which ${why}`;
  }
  return undefined;
}

/** The entries of an approvals file with their lines, or what is wrong with it. */
function parseEntries(text: string, path: string): { entries: Entry[]; problems: string[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, merge: false, prettyErrors: false });
  if (!Array.isArray(docs)) return { entries: [], problems: [] }; // empty file
  if (docs.length > 1) return { entries: [], problems: [`${path}: holds ${docs.length} YAML documents; write one`] };
  const doc = docs[0] as Document | undefined;
  if (!doc) return { entries: [], problems: [] };
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    return { entries: [], problems: [`${path}${at ? `:${at.line}` : ''}: invalid YAML: ${error.message.split('\n')[0]}`] };
  }
  // An alias makes an entry's content come from other lines than its own, which blame would
  // then attribute to the wrong commits.
  let alias = false;
  visit(doc, { Alias() { alias = true; return visit.BREAK; } });
  if (alias) return { entries: [], problems: [`${path}: uses YAML anchors or aliases (*name); write every entry out in full`] };

  const line = (offset: number) => lineCounter.linePos(offset).line;
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) return { entries: [], problems: [] };
  const list = isMap(root) ? root.get('approvals', true) : undefined;
  if (!isMap(root) || (list !== undefined && list !== null && !isSeq(list) && !(isScalar(list) && list.value === null))) {
    return { entries: [], problems: [`${path}: expected "approvals:" with a list of { release, step?, by?, note? }`] };
  }
  if (!isSeq(list)) return { entries: [], problems: [] };
  const entries: Entry[] = [];
  const problems: string[] = [];
  list.items.forEach((item, i) => {
    const range = (item as { range?: [number, number, number] } | null)?.range;
    const at = `${path}:${range ? line(range[0]) : '?'}: approvals[${i}]`;
    if (!isMap(item) || !item.range) { problems.push(`${at}: expected a mapping { release, step?, by?, note? }`); return; }
    const release = item.get('release', true);
    const step = item.get('step', true);
    const by = item.get('by', true);
    const note = item.get('note', true);
    if (!isScalar(release) || typeof release.value !== 'string' || !RELEASE_ID.test(release.value) || !release.range) {
      problems.push(`${at}.release: expected a release id like "shop/storefront@3f9c2a1b7d" (kgitops status shows it), got ${shown(release)}`);
      return;
    }
    if (step !== undefined && !(isScalar(step) && Number.isInteger(step.value) && (step.value as number) >= 1 && step.range)) {
      problems.push(`${at}.step: a step number from 1, got ${shown(step)}`);
      return;
    }
    for (const [key, node] of [['by', by], ['note', note]] as const) {
      if (node !== undefined && !(isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number'))) {
        problems.push(`${at}.${key}: expected text`);
        return;
      }
    }
    const texts = [isScalar(by) && by.value !== null ? `by: ${String(by.value)}` : '', isScalar(note) && note.value !== null ? String(note.value) : ''].filter(Boolean);
    entries.push({
      index: i,
      release: release.value,
      ...(isScalar(step) ? { step: step.value as number, stepLine: line(step.range![0]) } : {}),
      ...(texts.length ? { note: texts.join('; ') } : {}),
      firstLine: line(item.range[0]),
      lastLine: line(Math.max(item.range[0], item.range[1] - 1)),
      releaseLine: line(release.range[0]),
    });
  });
  return { entries: problems.length ? [] : entries, problems };
}

/** A node's value for a message. */
function shown(node: unknown): string {
  const value = isScalar(node) ? node.value : (node as { toJSON?: () => unknown } | undefined)?.toJSON?.();
  return JSON.stringify(value ?? null);
}
