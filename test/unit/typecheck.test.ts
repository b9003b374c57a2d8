/**
 * The whole project type-checks (TypeScript strict), including test/fixtures/illegal-states.ts,
 * whose `@ts-expect-error` lines prove that illegal Kruise states do not compile.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

it('type-checks, and every illegal state in the fixtures is a compile error', () => {
  let output = '';
  try {
    execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.json', '--noEmit'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    output = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
  }
  expect(output).toBe('');
}, 120_000);
