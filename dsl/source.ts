/**
 * Where a construct was declared. At creation we take V8's structured call sites (no string
 * formatting, no source-map lookups) and keep the first frame outside kruise-gitops and
 * node_modules; `toString()` maps that one frame through the source map (tsx compiles the
 * user's TypeScript) to `file:line:col`, so errors point at the user's own line.
 */
import { findSourceMap } from 'node:module';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const dslDir = fileURLToPath(new URL('.', import.meta.url));

interface Frame { file: string; line: number; column: number }

function isUserFile(file: string | null | undefined): file is string {
  if (!file || file.startsWith('node:')) return false;
  const path = file.startsWith('file://') ? fileURLToPath(file) : file;
  return !path.startsWith(dslDir) && !path.includes(`${sep}node_modules${sep}`);
}

export class SourceLocation {
  private cached?: string;
  private constructor(private readonly frame: Frame | undefined) {}

  static capture(): SourceLocation {
    const prepare = Error.prepareStackTrace;
    const limit = Error.stackTraceLimit;
    let frame: Frame | undefined;
    try {
      Error.stackTraceLimit = 16;
      Error.prepareStackTrace = (_e, sites) => sites;
      const sites = new Error().stack as unknown as NodeJS.CallSite[];
      const site = sites.find((s) => isUserFile(s.getFileName()));
      if (site) frame = { file: site.getFileName()!, line: site.getLineNumber() ?? 0, column: site.getColumnNumber() ?? 0 };
    } finally {
      Error.prepareStackTrace = prepare;
      Error.stackTraceLimit = limit;
    }
    return new SourceLocation(frame);
  }

  /** `examples/main.ts:42:5`, relative to the working directory; undefined if unknown. */
  toString(): string | undefined {
    if (this.cached !== undefined) return this.cached || undefined;
    this.cached = '';
    if (!this.frame) return undefined;
    let { file, line, column } = this.frame;
    const mapped = findSourceMap(file)?.findEntry(line - 1, column - 1) as
      { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined;
    if (mapped?.originalSource && mapped.originalLine !== undefined) {
      file = mapped.originalSource;
      line = mapped.originalLine + 1;
      column = (mapped.originalColumn ?? 0) + 1;
    }
    const path = file.startsWith('file://') ? fileURLToPath(file) : file;
    this.cached = `${relative(process.cwd(), path) || path}:${line}:${column}`;
    return this.cached;
  }
}

const recorded = new WeakMap<object, SourceLocation>();

/** Where a construct without a source of its own (an L1 class, a raw ApiObject) was created, if recorded. */
export function recordedSource(construct: object): SourceLocation | undefined {
  return recorded.get(construct);
}

let recording = false;

/**
 * Records where every construct that `shouldRecord` picks is created. L1 classes and raw cdk8s
 * ApiObjects are not ours, so their constructors cannot take the call site as the L2 constructs
 * do; every construct, though, joins the tree through its parent's `Node.addChild`, called
 * inside the `new X(...)` of the user's code. That method is private to `constructs`, hence the
 * guard: without it, objects simply have no source line.
 */
export function recordSourcesOnCreation(nodeClass: { prototype: object }, shouldRecord: (child: object, parent: object) => boolean): void {
  if (recording) return;
  const proto = nodeClass.prototype as { addChild?: (this: { host?: object }, child: object, name: string) => void };
  const addChild = proto.addChild;
  if (typeof addChild !== 'function') return;
  recording = true;
  proto.addChild = function addChildRecordingSource(child, name) {
    addChild.call(this, child, name);
    if (this.host && shouldRecord(child, this.host)) recorded.set(child, SourceLocation.capture());
  };
}
