/**
 * The policy process: loads a repo's `policies/*.ts` and checks the objects the parent sends
 * (serve.ts). It starts while the app synthesizes, so loading the policies costs no extra wall
 * time; in the engine a warm worker serves instead (engine/synth/worker.ts).
 */
import { servePolicies } from './serve.js';

await servePolicies(process.argv[2]);
