/**
 * The demo's own release (`npm start` on the simulated cluster): so that the dashboard shows a
 * release step by step without anybody editing anything, the controller watches a clone of this
 * checkout, and once the shop is Current the demo commits a new cart image there. The cart then
 * releases zone by zone, each zone baking before the next.
 *
 * The checkout itself is never written to. The clone follows it: every interval, new commits of
 * the checkout's branch are merged in, so a change committed under examples/ is still applied.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The example whose image the demo bumps, and where it is declared. */
const RELEASE_FILE = 'examples/lib/shop.ts';
const CART_IMAGE = /(registry\.example\.com\/shop\/cart:)(\d+)\.(\d+)\.(\d+)/;
const IDENTITY = ['-c', 'user.name=kgitops demo', '-c', 'user.email=demo@kgitops.invalid', '-c', 'commit.gpgsign=false'];

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', [...IDENTITY, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export interface DemoReleaseRepo {
  /** The clone the App watches, and its branch. */
  readonly repo: string;
  readonly ref: string;
  /** Merges what the checkout's branch gained since: whether it did, and why not (a conflict, said once). */
  follow(): { merged: boolean; problem?: string };
  /** Commits the next cart image; the new image, or undefined when the examples have no cart image. */
  release(): string | undefined;
  remove(): void;
}

/** A clone of `checkout` at `ref` (a branch, or a commit when detached), on a branch of its own. */
export function demoReleaseRepo(checkout: string, ref: string): DemoReleaseRepo {
  const dir = mkdtempSync(join(tmpdir(), 'kgitops-demo-repo-'));
  const branch = 'kgitops-demo';
  git(dir, 'clone', '-q', '--no-checkout', checkout, '.');
  git(dir, 'checkout', '-q', '-B', branch, git(checkout, 'rev-parse', ref));
  let followed = git(checkout, 'rev-parse', ref);
  let reported = '';
  return {
    repo: dir,
    ref: branch,
    follow() {
      const head = git(checkout, 'rev-parse', ref);
      if (head === followed) return { merged: false };
      try {
        git(dir, 'fetch', '-q', checkout, head);
        git(dir, 'merge', '-q', '--no-edit', '-m', `merge ${head.slice(0, 12)} of the checkout`, head);
        followed = head;
        return { merged: true };
      } catch (e) {
        try { git(dir, 'merge', '--abort'); } catch { /* nothing to abort */ }
        const message = `could not merge commit ${head.slice(0, 12)} of the checkout into the demo's clone ${dir}: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n')[0]}; run npm start -- --no-demo-release to watch the checkout itself`;
        if (message === reported) return { merged: false };
        reported = message;
        return { merged: false, problem: message };
      }
    },
    release() {
      const file = join(dir, RELEASE_FILE);
      let text: string;
      try { text = readFileSync(file, 'utf8'); } catch { return undefined; }
      const m = CART_IMAGE.exec(text);
      if (!m) return undefined;
      const image = `${m[1]}${m[2]}.${m[3]}.${Number(m[4]) + 1}`;
      writeFileSync(file, text.replace(CART_IMAGE, image));
      git(dir, 'commit', '-q', '-a', '-m', `demo: release ${image.split('/').pop()} (kgitops demo; --no-demo-release skips it)`);
      return image;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
