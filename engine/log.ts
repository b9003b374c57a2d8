/**
 * Logging (pino): JSON lines for machines (--log-format json), one readable line per event for
 * people (the default). Secrets never reach the log: known secret fields are redacted, and URLs
 * are logged only after redactUrl().
 */
import { pino, type Logger } from 'pino';

export type { Logger };
export type LogFormat = 'text' | 'json';

const REDACT = ['token', 'secret', 'password', '*.token', '*.secret', '*.password', 'headers.authorization', 'headers.Authorization'];

function textLine(o: Record<string, unknown>): string {
  const { level, time, msg, pid: _p, hostname: _h, ...fields } = o;
  const t = new Date(time as number).toISOString().slice(11, 19);
  const lvl = ({ 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' } as Record<number, string>)[level as number] ?? 'INFO ';
  const extra = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`).join(' ');
  return `${t} ${lvl} ${msg}${extra ? `  ${extra}` : ''}\n`;
}

export function createLogger(o: { format?: LogFormat; level?: string; stream?: NodeJS.WritableStream } = {}): Logger {
  const stream = o.stream ?? process.stderr;
  const destination = o.format === 'json'
    ? { write: (line: string) => stream.write(line) }
    : { write: (line: string) => stream.write(textLine(JSON.parse(line))) };
  return pino({ level: o.level ?? 'info', redact: { paths: REDACT, censor: '[redacted]' }, base: undefined }, destination);
}

/** A URL with its user info removed, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/)[^/@]*@/i, '$1');
}
