import { describe, expect, it } from 'vitest';
import { JitkeyError } from '../../exchanger/errors.js';
import { groupCommit } from '../../exchanger/store/group-commit.js';

/** A fake database: a set of used keys, transactions that log begin/commit and can be made to fail. */
function fakeDb() {
  const events: string[] = [];
  let committed = new Set<string>();
  let failNext = false;
  const commit = groupCommit(
    (work) => {
      const before = new Set(committed);
      events.push('begin');
      try {
        work();
        if (failNext) throw new Error('disk I/O error');
        events.push('commit');
      } catch (err) {
        committed = before;
        events.push('rollback');
        throw err;
      } finally {
        failNext = false;
      }
    },
    (cause) => new JitkeyError('unavailable', 'the store could not record the request', { cause }),
  );
  const consume = (key: string) =>
    commit.submit(() => {
      if (committed.has(key)) return false;
      committed.add(key);
      return true;
    });
  return {
    commit,
    consume,
    events,
    failNextTransaction: () => {
      failNext = true;
    },
  };
}

describe('groupCommit', () => {
  it('applies the writes of one turn in one transaction, in order, one result per caller', async () => {
    const db = fakeDb();
    const results = await Promise.all([db.consume('a'), db.consume('b'), db.consume('a'), db.consume('c')]);
    expect(results).toEqual([true, true, false, true]);
    expect(db.events).toEqual(['begin', 'commit']);
  });

  it('resolves each caller only after the commit', async () => {
    const db = fakeDb();
    await Promise.all(['a', 'b', 'c'].map((k) => db.consume(k).then(() => db.events.push(`resolved ${k}`))));
    expect(db.events).toEqual(['begin', 'commit', 'resolved a', 'resolved b', 'resolved c']);
  });

  it('gives writes of a later turn their own transaction', async () => {
    const db = fakeDb();
    await db.consume('a');
    await db.consume('b');
    expect(db.events).toEqual(['begin', 'commit', 'begin', 'commit']);
  });

  it('rejects every caller of a failed batch, rolls it all back, and goes on afterwards', async () => {
    const db = fakeDb();
    db.failNextTransaction();
    const results = await Promise.allSettled([db.consume('a'), db.consume('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    for (const r of results) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'unavailable', status: 503 });
    }
    expect(await Promise.all([db.consume('a'), db.consume('b')])).toEqual([true, true]);
  });

  it('rejects the whole batch when one write throws', async () => {
    const db = fakeDb();
    const boom = db.commit.submit(() => {
      throw new Error('constraint failed');
    });
    const results = await Promise.allSettled([db.consume('a'), boom, db.consume('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await db.consume('a')).toBe(true); // rolled back: 'a' was never used
  });

  it('flush applies what is queued right away', async () => {
    const db = fakeDb();
    const pending = db.consume('a');
    db.commit.flush();
    expect(db.events).toEqual(['begin', 'commit']);
    expect(await pending).toBe(true);
  });

  it('with grouping off, runs one transaction per write', async () => {
    const events: string[] = [];
    const commit = groupCommit(
      (work) => {
        events.push('begin');
        work();
        events.push('commit');
      },
      (cause) => new Error(String(cause)),
      { enabled: false },
    );
    expect(await Promise.all([commit.submit(() => 1), commit.submit(() => 2)])).toEqual([1, 2]);
    expect(events).toEqual(['begin', 'commit', 'begin', 'commit']);
  });
});
