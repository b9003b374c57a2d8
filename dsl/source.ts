/**
 * Where a construct was declared. The stack is captured when the construct is created (cheap:
 * V8 formats it only when read) and turned into `file:line:col` of the first frame outside
 * kruise-gitops and node_modules, so that an error points at the user's own line.
 */
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const dslDir = fileURLToPath(new URL('.', import.meta.url));

export class SourceLocation {
  private cached?: string;
  private constructor(private readonly error: Error) {}

  static capture(): SourceLocation {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 16;
    const e = new Error();
    Error.stackTraceLimit = limit;
    return new SourceLocation(e);
  }

  /** `examples/main.ts:42:5`, relative to the working directory; undefined if unknown. */
  toString(): string | undefined {
    if (this.cached !== undefined) return this.cached || undefined;
    this.cached = '';
    for (const line of (this.error.stack ?? '').split('\n').slice(1)) {
      const m = /\(?((?:file:\/\/)?\/[^():]+):(\d+):(\d+)\)?\s*$/.exec(line);
      if (!m) continue;
      const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
      if (file.startsWith(dslDir) || file.includes(`${sep}node_modules${sep}`) || file.startsWith('node:')) continue;
      this.cached = `${relative(process.cwd(), file) || file}:${m[2]}:${m[3]}`;
      break;
    }
    return this.cached || undefined;
  }
}
