/**
 * A webhook server in a process of its own, so a test can measure the server's memory alone
 * (the test's client sockets live in the test's process). Started by webhook-limits.test.ts
 * with `node --import tsx --expose-gc`; options as JSON in argv[2], the secret in
 * $WEBHOOK_SECRET (never in argv). It samples its own memory every 20 ms and answers messages:
 *   { type: 'baseline' } -> collects garbage, resets the peak, replies with the memory now
 *   { type: 'peak' }     -> replies with the peak since the baseline, open connections, pushes
 *   { type: 'close' }    -> closes the server and exits
 */
import { startWebhookServer, type PushEvent, type WebhookServerOptions } from '../../../engine/source/webhook.js';

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly arrayBuffers: number;
}

export type ChildReply =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'baseline'; readonly memory: MemorySample }
  | { readonly type: 'peak'; readonly memory: MemorySample; readonly openConnections: number; readonly pushes: PushEvent[]; readonly logLines: number };

type ChildOptions = Omit<WebhookServerOptions, 'secret' | 'onPush' | 'log'>;

function current(): MemorySample {
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, arrayBuffers };
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!process.send || !gc) throw new Error('run me with fork() and --expose-gc');
const send = (message: ChildReply) => process.send!(message);

const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const pushes: PushEvent[] = [];
let logLines = 0;
const server = await startWebhookServer({
  ...options,
  secret: process.env.WEBHOOK_SECRET ?? '',
  onPush: (event) => { pushes.push(event); },
  log: () => { logLines++; },
});

let peak = current();
const sampler = setInterval(() => {
  const now = current();
  peak = { rss: Math.max(peak.rss, now.rss), heapUsed: Math.max(peak.heapUsed, now.heapUsed), arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers) };
}, 20);

process.on('message', (message: { type: string }) => {
  if (message.type === 'baseline') {
    gc();
    peak = current();
    send({ type: 'baseline', memory: peak });
  } else if (message.type === 'peak') {
    void server.openConnections().then((openConnections) => send({ type: 'peak', memory: peak, openConnections, pushes, logLines }));
  } else if (message.type === 'close') {
    clearInterval(sampler);
    void server.close().finally(() => process.exit(0));
  }
});
send({ type: 'ready', port: server.port });
