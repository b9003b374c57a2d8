/**
 * A synth worker: a process with tsx, cdk8s, cdk8s-plus-33 and the kruise-gitops DSL already
 * loaded, waiting for exactly one app to run. The engine starts it before a commit arrives, so
 * synthesizing a commit costs the app's own work, not Node and library start-up; each commit
 * still runs in a fresh process of its own, with the same restricted environment.
 */
import { pathToFileURL } from 'node:url';

interface Job {
  readonly cwd: string;
  readonly entry: string;
  readonly env: Record<string, string>;
}

await import('cdk8s');
await import('cdk8s-plus-33');
await import('../../dsl/index.js');

let started = false;
// The engine went away before giving us an app: nothing to do.
process.once('disconnect', () => { if (!started) process.exit(0); });

process.once('message', async (job: Job) => {
  started = true;
  process.chdir(job.cwd);
  Object.assign(process.env, job.env);
  process.argv = [process.argv[0], job.entry];
  process.disconnect?.();
  // The app runs as the main module would: app.synth() at its end writes the result.
  await import(pathToFileURL(job.entry).href);
});
process.send?.('ready');
