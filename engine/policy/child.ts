/**
 * The policy process: loads a repo's `policies/*.ts` (user code, so in a child process with the
 * same restricted environment as synth), then checks the objects the parent sends. It starts
 * while the app synthesizes, so loading the policies costs no extra wall time.
 */
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { locateError } from '../synth/run-app.js';
import type { PolicyTarget } from './api.js';
import { policyFiles } from './host.js';
import { assemble, evaluatePolicies } from './run.js';

interface Job { readonly objects: PolicyTarget[]; readonly previous?: PolicyTarget[] }

const dir = process.argv[2];
const files = policyFiles(dir);
const loaded: { file: string; value: unknown }[] = [];
const loadErrors: Diagnostic[] = [];
for (const f of files) {
  const file = join(dir, f);
  const shown = relative(process.cwd(), file) || f;
  try {
    const mod = await import(pathToFileURL(file).href);
    loaded.push({ file: shown, value: mod.default });
  } catch (e) {
    const stack = `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}\n${(e as Error)?.stack ?? ''}`;
    const at = locateError(stack);
    loadErrors.push({
      severity: 'error', rule: 'policy/load-failed',
      message: `${shown} could not be loaded: ${at.message ?? (e as Error)?.message ?? String(e)}`,
      source: at.source ? relative(process.cwd(), at.source) || at.source : shown,
      hint: 'fix the policy file; until it loads, no commit is applied',
    });
  }
}
const { policies, problems, catalog } = assemble(loaded);
const setup: Diagnostic[] = [...loadErrors, ...problems.map((message) => ({ severity: 'error' as const, rule: 'policy/config', message }))];

process.once('message', (job: Job) => {
  const diagnostics = [...setup, ...evaluatePolicies(policies, job.objects, { previous: job.previous })];
  process.send!({ diagnostics, catalog }, () => process.exit(0));
});
process.send!('ready');
