#!/usr/bin/env node
// kgitops CLI entry point. In a checkout of kruise-gitops it runs the TypeScript sources through
// tsx (no build step); the published package runs its compiled JavaScript from dist/.
import { existsSync } from 'node:fs';

const source = new URL('../engine/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/engine/cli/main.js');
}
