/**
 * The sync loop keeps its process alive between reconciles (npm start exited with code 13 after
 * its first apply: every engine timer is unref'd), and ends when stopped.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = fileURLToPath(new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url));

const PROGRAM = `
import { SyncEngine } from './engine/engine.ts';
import { realClock } from './engine/clock.ts';
const log = { info() {}, warn() {}, error() {} };
let n = 0;
const reconciler = { async reconcile() { n++; process.stdout.write('reconciled ' + n + '\\n'); return { result: 'NoChange' }; } };
const engine = new SyncEngine(reconciler, { intervalMs: 3_600_000, clock: realClock, log });
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
await engine.run(controller.signal);
process.stdout.write('stopped\\n');
`;

it('stays up between reconciles until it is stopped, then exits 0', async () => {
  const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', PROGRAM], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  let exited: number | null | undefined;
  const done = new Promise<number | null>((resolve) => child.once('exit', (code) => { exited = code; resolve(code); }));
  for (let i = 0; i < 100 && !out.includes('reconciled 1'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(out).toContain('reconciled 1');
  // Well past the first reconcile, in the wait for the next one: still running.
  await new Promise((r) => setTimeout(r, 1500));
  expect(exited).toBeUndefined();
  child.kill('SIGTERM');
  expect(await done).toBe(0);
  expect(out).toContain('stopped');
}, 30_000);
