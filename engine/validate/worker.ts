/**
 * A worker thread of `kgitops validate`: reads and checks its share of the files
 * (engine/validate/existing.ts checkFiles) and posts the result back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkFiles } from './existing.js';

parentPort!.postMessage(checkFiles((workerData as { files: { file: string; walked: boolean }[] }).files));
