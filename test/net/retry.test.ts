import { describe, expect, it } from 'vitest';
import { backoffMs, retry, retryAfterMs } from '../../exchanger/net/retry.js';

class Transient extends Error {}

function harness(randomValues: number[] = []) {
  const waits: number[] = [];
  let i = 0;
  return {
    waits,
    sleep: async (ms: number) => {
      waits.push(ms);
    },
    random: () => randomValues[i++] ?? 0.5,
  };
}

describe('retry', () => {
  it('returns the first success without waiting', async () => {
    const h = harness();
    const calls: number[] = [];
    const out = await retry(
      async (attempt) => {
        calls.push(attempt);
        return 'ok';
      },
      { tries: 3, baseMs: 100, maxMs: 1000, isRetryable: () => true, ...h },
    );
    expect(out).toBe('ok');
    expect(calls).toEqual([1]);
    expect(h.waits).toEqual([]);
  });

  it('retries retryable failures and succeeds on the last try', async () => {
    const h = harness([0.5, 0.5]);
    let n = 0;
    const out = await retry(
      async () => {
        if (++n < 3) throw new Transient('busy');
        return n;
      },
      { tries: 3, baseMs: 100, maxMs: 1000, isRetryable: (e) => e instanceof Transient, ...h },
    );
    expect(out).toBe(3);
    expect(h.waits).toEqual([50, 100]);
  });

  it('is bounded: after `tries` attempts the last error is thrown', async () => {
    const h = harness();
    let n = 0;
    const failing = retry(
      async () => {
        throw new Transient(`fail ${++n}`);
      },
      { tries: 3, baseMs: 10, maxMs: 100, isRetryable: () => true, ...h },
    );
    await expect(failing).rejects.toThrow('fail 3');
    expect(n).toBe(3);
    expect(h.waits).toHaveLength(2);
  });

  it('does not retry a non-retryable error', async () => {
    const h = harness();
    let n = 0;
    const failing = retry(
      async () => {
        n++;
        throw new Error('refused');
      },
      { tries: 3, baseMs: 10, maxMs: 100, isRetryable: (e) => e instanceof Transient, ...h },
    );
    await expect(failing).rejects.toThrow('refused');
    expect(n).toBe(1);
    expect(h.waits).toEqual([]);
  });

  it('tells onRetry about each wait', async () => {
    const h = harness([1 - Number.EPSILON, 0]);
    const seen: [string, number, number][] = [];
    await expect(
      retry(
        async (attempt) => {
          throw new Transient(`t${attempt}`);
        },
        {
          tries: 3,
          baseMs: 100,
          maxMs: 1000,
          isRetryable: () => true,
          onRetry: (err, attempt, wait) => seen.push([(err as Error).message, attempt, wait]),
          ...h,
        },
      ),
    ).rejects.toThrow('t3');
    expect(seen).toEqual([
      ['t1', 1, 99],
      ['t2', 2, 0],
    ]);
  });

  it('reports every attempt, with its error or undefined on success, to onAttempt', async () => {
    const seen: unknown[] = [];
    let n = 0;
    const result = await retry(
      async () => {
        n++;
        if (n < 3) throw new Error(`fail ${n}`);
        return 'ok';
      },
      {
        tries: 3,
        baseMs: 1,
        maxMs: 1,
        isRetryable: () => true,
        sleep: async () => {},
        onAttempt: (seconds, err) => {
          expect(seconds).toBeGreaterThanOrEqual(0);
          seen.push(err instanceof Error ? err.message : err);
        },
      },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual(['fail 1', 'fail 2', undefined]);
  });

  it('refuses a nonsensical bound', async () => {
    await expect(
      retry(async () => 1, { tries: 0, baseMs: 1, maxMs: 1, isRetryable: () => true }),
    ).rejects.toThrow(RangeError);
  });
});

describe('backoffMs (full jitter)', () => {
  it.each([
    { attempt: 1, cap: 100 },
    { attempt: 2, cap: 200 },
    { attempt: 3, cap: 400 },
    { attempt: 4, cap: 500 },
    { attempt: 10, cap: 500 },
  ])('attempt $attempt waits within [0, $cap)', ({ attempt, cap }) => {
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const wait = backoffMs(attempt, 100, 500, () => r);
      expect(wait).toBeGreaterThanOrEqual(0);
      expect(wait).toBeLessThan(cap);
      expect(wait).toBe(Math.floor(r * cap));
    }
  });

  it('clamps a random source that strays outside [0, 1]', () => {
    expect(backoffMs(1, 100, 500, () => 7)).toBe(100);
    expect(backoffMs(1, 100, 500, () => -1)).toBe(0);
  });
});

describe('retryAfterMs', () => {
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Thu, 01 Jan 1970 00:00:05 GMT', 4_000],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['1.5', undefined],
    ['soon', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %s ms (now = 1 s)', (value, ms) => {
    expect(retryAfterMs(value, 1_000)).toBe(ms);
  });
});

describe('retry waitMs', () => {
  it('waits what the error asks instead of the backoff', async () => {
    const h = harness([0.5]);
    let calls = 0;
    await retry(
      async () => {
        if (++calls === 1) throw new Transient('busy');
        return 'ok';
      },
      {
        tries: 2,
        baseMs: 100,
        maxMs: 100,
        isRetryable: () => true,
        ...h,
        waitMs: (_err, backoff) => backoff + 950,
      },
    );
    expect(h.waits).toEqual([1000]);
  });
});
