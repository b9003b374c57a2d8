import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../engine/clock.js';
import { WorkQueue } from '../../../engine/controller/queue.js';

describe('WorkQueue', () => {
  it('holds a key once, never gives it to two workers, and runs it again when added while it ran', async () => {
    const q = new WorkQueue(new FakeClock(0));
    q.add('a'); q.add('a'); q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    q.add('a'); // while processing: dirty, not queued twice
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('b');
    q.done('a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('addFirst puts a key before the others (moving it if queued), and back at the front when added while it ran', async () => {
    const q = new WorkQueue(new FakeClock(0));
    q.add('a'); q.add('b'); q.add('c');
    q.addFirst('c');
    q.addFirst('d');
    expect(q.length).toBe(4);
    expect(await q.get()).toBe('d');
    q.addFirst('d'); // while processing
    q.done('d');
    expect(await q.get()).toBe('d');
    expect(await q.get()).toBe('c');
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('addAfter with first: when due, the key goes before the keys already waiting (a re-check does not wait behind first syncs)', async () => {
    const clock = new FakeClock(0);
    const q = new WorkQueue(clock);
    q.addAfter('recheck', 5_000, true);
    q.addAfter('later', 5_000);
    q.add('a'); q.add('b');
    await clock.advance(5_000);
    expect(await q.get()).toBe('recheck');
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(await q.get()).toBe('later');
  });

  it("backs off exponentially per key, capped, and forget resets it", async () => {
    const clock = new FakeClock(0);
    const q = new WorkQueue(clock, { baseMs: 100, maxMs: 1_000 });
    expect([1, 2, 3, 4, 5].map(() => q.addRateLimited('a'))).toEqual([100, 200, 400, 800, 1_000]);
    expect(q.retries('a')).toBe(5);
    q.forget('a');
    expect(q.addRateLimited('a')).toBe(100);
    expect(q.length).toBe(0);
    await clock.advance(100);
    expect(q.length).toBe(1);
  });

  it('a slow key holds one worker only: the others keep going', async () => {
    const q = new WorkQueue(new FakeClock(0));
    const done: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => { release = r; });
    q.add('slow');
    for (let i = 0; i < 5; i++) q.add(`fast${i}`);
    const running = q.run(2, async (k) => {
      if (k === 'slow') await slow;
      done.push(k);
      if (done.length === 5) { release(); }
      if (done.length === 6) q.shutDown();
    });
    await running;
    expect(done.slice(0, 5)).toEqual(['fast0', 'fast1', 'fast2', 'fast3', 'fast4']);
    expect(done[5]).toBe('slow');
  });
});
