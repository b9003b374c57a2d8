#!/usr/bin/env node
// kgitops CLI entry point: runs the TypeScript sources through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../engine/cli/main.ts');
