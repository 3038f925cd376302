// retryWhileDatabaseAway: the work runs again once the database is back, and only
// when the database was away; its own failures are thrown at once. A scripted
// probe and clock stand in for the server (the restart itself is
// test/faults/database-restart.test.ts).
import { expect, it } from 'vitest';
import { retryWhileDatabaseAway } from '../../src/db/database-away.js';

/** A probe that gives the scripted answers in turn (then answers), and a clock that pauses move forward. */
function scripted(answers: boolean[]) {
  let clock = 0;
  const probes: boolean[] = [];
  return {
    probes,
    probe: async () => {
      const up = answers[probes.length] ?? true;
      probes.push(up);
      if (!up) throw new Error('connect ECONNREFUSED');
    },
    options: { now: () => clock, sleep: async (ms: number) => void (clock += ms) },
    elapsed: () => clock,
  };
}

it('runs the work again once the database answers, pausing at most maxPauseMs between probes', async () => {
  const db = scripted(Array(6).fill(false));
  let calls = 0;
  const result = await retryWhileDatabaseAway(
    db.probe,
    async () => {
      calls += 1;
      if (calls === 1) throw new Error('terminating connection due to administrator command');
      return 'done';
    },
    db.options,
  );
  expect(result).toBe('done');
  expect(calls).toBe(2);
  expect(db.probes).toEqual([false, false, false, false, false, false, true]);
  // 50, 100, 200, 400, then capped at 500.
  expect(db.elapsed()).toBe(50 + 100 + 200 + 400 + 500 + 500);
});

/** Work that always fails with `failure`, counting its calls. */
function failing(failure: Error) {
  const work = async () => {
    work.calls += 1;
    throw failure;
  };
  work.calls = 0;
  return work;
}

it('throws the work’s own error at once when the database answers', async () => {
  const db = scripted([]);
  const failure = new Error('invalid input');
  const work = failing(failure);
  await expect(retryWhileDatabaseAway(db.probe, work, db.options)).rejects.toBe(failure);
  expect(work.calls).toBe(1);
  expect(db.probes).toEqual([true]);
});

it('gives up after giveUpMs with the work’s error when the database stays away', async () => {
  const db = scripted(Array(1000).fill(false));
  const failure = new Error('connect ECONNREFUSED');
  const work = failing(failure);
  await expect(retryWhileDatabaseAway(db.probe, work, { ...db.options, giveUpMs: 5_000 })).rejects.toBe(failure);
  expect(work.calls).toBe(1);
  expect(db.elapsed()).toBeGreaterThanOrEqual(5_000);
  expect(db.elapsed()).toBeLessThan(5_000 + 500);
});

it('keeps going through several outages within one call', async () => {
  // Away, back (the work fails again: a second outage), away twice, back.
  const db = scripted([false, true, false, false, true]);
  let calls = 0;
  const result = await retryWhileDatabaseAway(
    db.probe,
    async () => {
      calls += 1;
      if (calls < 3) throw new Error('connection terminated unexpectedly');
      return calls;
    },
    db.options,
  );
  expect(result).toBe(3);
  expect(db.probes).toEqual([false, true, false, false, true]);
});
