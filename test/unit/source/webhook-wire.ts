/**
 * Raw HTTP/1.1 over node:net for the webhook tests: a client that sends exactly the bytes it is
 * told to (and then nothing, without closing its side), so a test can tell a server that
 * answers from the headers alone from one that waits for a body.
 */
import { createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export const SECRET = 'webhook-Secret-7f6e5d4c3b2a';

export function sign(body: string | Buffer, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface RawResponse {
  /** Everything the server sent. */
  readonly text: string;
  /** Of the first response; undefined when the server closed without a word. */
  readonly status?: number;
  /** Of the first response, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** Of the first response. */
  readonly body: string;
}

export function parseResponse(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? NaN);
  const rest = end < 0 ? '' : text.slice(end + 4);
  return { text, ...(status ? { status: Number(status) } : {}), headers, body: Number.isFinite(length) ? rest.slice(0, length) : rest };
}

/** Opens a loopback connection; resolves once connected. */
export function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.off('error', reject); resolve(socket); });
    socket.once('error', reject);
  });
}

/**
 * Resolves with what the server sent once the server ends the connection; the client never
 * ends its side. Rejects when the server neither closes nor ends it within `deadlineMs`
 * (a liveness bound, generous on purpose).
 */
export function untilServerCloses(socket: Socket, deadlineMs = 20_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after the answer is still an answer: the server may close with bytes unread.
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server neither closed the connection nor ended it within ${deadlineMs} ms; it sent ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`));
    }, deadlineMs);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1')));
    };
    socket.once('end', done);
    socket.once('close', done);
  });
}

/** Resolves with the bytes received once they contain `marker`. */
export function until(socket: Socket, marker: string, deadlineMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.includes(marker)) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(text);
    };
    const timer = setTimeout(() => {
      socket.off('data', onData);
      reject(new Error(`no ${JSON.stringify(marker)} from the server within ${deadlineMs} ms; it sent ${JSON.stringify(text.slice(0, 200))}`));
    }, deadlineMs);
    socket.on('data', onData);
  });
}

/** The request line and headers of a POST, ready to write; the body is the caller's. */
export function requestHead(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/** Polls `probe` until it holds; for state another process or the event loop settles. */
export async function eventually(probe: () => Promise<boolean> | boolean, what: string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: still not the case after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
