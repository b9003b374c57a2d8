/**
 * What a sandboxed process hands back through its pipes, read up to one total cap: past it, the
 * run is killed and nothing it wrote is used (the engine's memory stays bounded whatever the app
 * prints).
 */
/** The app's output pipes, read up to a total cap; over it, the run is killed. */
export class CappedOutput {
  readonly chunks: Buffer[][] = [[], []];
  total = 0;
  exceeded = false;

  constructor(private readonly cap: number, private readonly onExceeded: () => void) {}

  read(stream: NodeJS.ReadableStream | null | undefined, index: 0 | 1): Promise<void> {
    return new Promise((resolveRead) => {
      if (!stream) return resolveRead();
      stream.on('data', (d: Buffer) => {
        if (this.exceeded) return;
        this.total += d.length;
        if (this.total > this.cap) {
          this.exceeded = true;
          this.chunks[0] = [];
          this.chunks[1] = [];
          this.onExceeded();
          return;
        }
        this.chunks[index].push(d);
      });
      stream.once('end', () => resolveRead());
      stream.once('close', () => resolveRead());
      stream.once('error', () => resolveRead());
    });
  }

  text(index: 0 | 1): string {
    return Buffer.concat(this.chunks[index]).toString('utf8');
  }
}

