/** Cron schedules as Kruise's AdvancedCronJob reads them (robfig/cron v3 ParseStandard). */
import { describe, expect, it } from 'vitest';
import { CronError, parseCron } from '../../../dsl/cron.js';

describe('parseCron', () => {
  it('expands fields, ranges, steps, lists and names', () => {
    const s = parseCron('*/20 9-11,14 * jan-mar mon-fri');
    expect(s.fields).toEqual([[0, 20, 40], [9, 10, 11, 14], Array.from({ length: 31 }, (_, i) => i + 1), [1, 2, 3], [1, 2, 3, 4, 5]]);
    expect(s.domStar).toBe(true);
    expect(s.dowStar).toBe(false);
  });

  it('reads "N/S" as N to the end in steps of S, like robfig', () => {
    expect(parseCron('5/15 * * * *').fields![0]).toEqual([5, 20, 35, 50]);
  });

  it('accepts descriptors, @every and a TZ prefix', () => {
    expect(parseCron('@daily').fields![1]).toEqual([0]);
    expect(parseCron('@every 1h30m').everySeconds).toBe(5400);
    expect(parseCron('CRON_TZ=Asia/Tokyo @hourly').timeZone).toBe('Asia/Tokyo');
    expect(parseCron('TZ=Europe/Berlin 0 3 * * *').timeZone).toBe('Europe/Berlin');
  });

  it.each([
    ['0 0 * * 7', 'day of week "7": 7 is outside 0-6 (Sunday is 0, not 7)'],
    ['0 0 3 * * *', 'expected 5 fields (minute hour day-of-month month day-of-week), found 6'],
    ['0 0 L * *', 'day of month "L": "L" is not a number'],
    ['*/0 * * * *', 'minute "*/0": the step must be a positive number'],
    ['5-1 * * * *', 'minute "5-1": the range starts after it ends'],
    ['1-2-3 * * * *', 'minute "1-2-3": too many hyphens'],
    ['0 0 0 * *', 'day of month "0": 0 is outside 1-31'],
    ['@Daily', 'unknown descriptor "@Daily" (use @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>)'],
    ['@every 1x', '"1x" is not a duration (write e.g. 90s, 15m or 1h30m)'],
    ['TZ=Bad/Zone 0 0 * * *', 'unknown time zone "Bad/Zone" in the TZ= prefix'],
    ['TZ=UTC', 'nothing follows the TZ= prefix'],
  ])('rejects %j: %s', (spec, message) => {
    expect(() => parseCron(spec)).toThrow(CronError);
    expect(() => parseCron(spec)).toThrow(message);
  });
});
