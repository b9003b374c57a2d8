/**
 * A synth worker: a process with tsx, cdk8s, cdk8s-plus-33, the kruise-gitops DSL and its policy
 * API already loaded, waiting for exactly one job: an app to run, or a repo's policies to serve.
 * The engine starts it before a commit arrives, so synthesizing a commit costs the app's own
 * work, not Node and library start-up; each job still runs in a fresh process (and sandbox) of
 * its own.
 */
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Job =
  | { readonly kind?: 'app'; readonly cwd: string; readonly entry: string; readonly env: Record<string, string> }
  | { readonly kind: 'policies'; readonly cwd: string; readonly dir: string };

// Two module graphs, two caches: a main.ts in a package without "type": "module" (most repos)
// is CommonJS, and its require() of cdk8s and kruise-gitops has a cache of its own, apart from
// import()'s. The CommonJS graph first; the worker says it is ready once that is loaded, and
// loads the ESM graph after (an ESM app arriving meanwhile shares those loads in flight).
{
  const require = createRequire(import.meta.url);
  // From source, tsx compiles these for require(); the published package's compiled ESM
  // cannot be required on Node 20, and a CommonJS app then shares the ESM graph below.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : undefined;
  require('cdk8s');
  require('cdk8s-plus-33');
  if (ext) {
    require(`../../dsl/index${ext}`);
    require(`../policy/index${ext}`);
  }
}
const preloadEsm = async () => {
  await import('cdk8s');
  await import('cdk8s-plus-33');
  await import('../../dsl/index.js');
  await import('../policy/index.js');
  await import('../policy/serve.js');
};

// Started without an IPC channel (transform-cache.ts fills the engine's compile cache this way),
// nothing below holds the process: it ends once tsx has written its cache, not before.
let started = false;
// The engine went away before giving us an app: nothing to do.
process.once('disconnect', () => { if (!started) process.exit(0); });

/**
 * A plain cdk8s App writes YAML into CDK8S_OUTDIR (the sandbox's private /tmp), which only this
 * process can read: stream it to the engine on fd 5, `<size> <name>\n<bytes>` per file.
 */
function streamYaml(): void {
  const dir = process.env.CDK8S_OUTDIR;
  if (!dir) return;
  let files: string[];
  try { files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)); } catch { return; }
  for (const f of files) {
    const bytes = readFileSync(join(dir, f));
    writeSync(5, `${bytes.length} ${f}\n`);
    writeSync(5, bytes);
  }
}

process.once('message', async (job: Job) => {
  started = true;
  if (job.kind === 'policies') {
    // The policy protocol carries on over this channel: 'ready', the objects, the answer.
    process.chdir(job.cwd);
    const { servePolicies } = await import('../policy/serve.js');
    await servePolicies(job.dir);
    return;
  }
  process.once('exit', (code) => { if (code === 0) streamYaml(); });
  process.chdir(job.cwd);
  Object.assign(process.env, job.env);
  process.argv = [process.argv[0], job.entry];
  process.disconnect?.();
  // The app runs as the main module would: app.synth() at its end writes the result.
  await import(pathToFileURL(job.entry).href);
});
process.send?.('ready');
await preloadEsm();
