/**
 * The policy process's work: loads a repo's `policies/*.ts` (user code: it runs in the sandbox),
 * says 'ready' over IPC, then checks the objects the parent sends and answers once. A cold
 * policy process (child.ts) and a warm synth worker (engine/synth/worker.ts) both run it.
 */
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { locateError } from '../synth/run-app.js';
import type { PolicyTarget } from './api.js';
import { policyFiles } from './host.js';
import { assemble, evaluatePolicies } from './run.js';

interface Job { readonly objects: PolicyTarget[]; readonly previous?: PolicyTarget[] }

export async function servePolicies(dir: string): Promise<void> {
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
}
