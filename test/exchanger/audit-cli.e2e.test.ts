/**
 * `jitkey audit` as a user runs it, on both stores: `--json` prints every matching row (issue
 * 12: an export of 1,109 rows lost 109 silently); the table caps at 1000 and then says on stderr
 * how many rows it left out and which flag shows them; `--limit` caps either, and says so too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import { entry } from '../store/contract.js';
import { runCli } from '../support/exchanger-process.js';
import { type TestDatabase, testDatabase } from '../support/pg.js';

const ROWS = 1109;
const T0 = Date.parse('2025-03-01T12:00:00Z');

interface Target {
  name: string;
  url: () => string;
  setup(): Promise<void>;
  cleanup(): Promise<void>;
}

let dir: string;
let db: TestDatabase;
const targets: Target[] = [
  {
    name: 'sqlite',
    url: () => `sqlite:${join(dir, 'audit.db')}`,
    setup: async () => {
      dir = mkdtempSync(join(tmpdir(), 'jitkey-audit-cli-'));
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  },
  {
    name: 'postgres',
    url: () => db.storeUrl,
    setup: async () => {
      db = await testDatabase();
    },
    cleanup: async () => db?.drop(),
  },
];

describe.each(targets)('jitkey audit on $name', (target) => {
  beforeAll(async () => {
    await target.setup();
    const store = await openStore(target.url(), { purgeIntervalMs: 0 });
    try {
      // One row a second, every third one denied: r0 is the oldest, r1108 the newest.
      for (let i = 0; i < ROWS; i++) {
        await store.record(
          entry({ requestId: `r${i}`, at: new Date(T0 + i * 1000), outcome: i % 3 ? 'allowed' : 'denied' }),
        );
      }
    } finally {
      await store.close();
    }
  });
  afterAll(() => target.cleanup());

  const audit = (...args: string[]) => runCli(['audit', '--store', target.url(), ...args]);
  const jsonIds = (stdout: string) =>
    stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line).request_id);

  it('--json prints every row, newest first, and nothing on stderr', async () => {
    const { code, stdout, stderr } = await audit('--json');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const ids = jsonIds(stdout);
    expect(ids).toHaveLength(ROWS);
    expect(ids[0]).toBe(`r${ROWS - 1}`);
    expect(ids.at(-1)).toBe('r0');
    expect(new Set(ids).size).toBe(ROWS);
  });

  it('--json with filters prints every matching row', async () => {
    const { code, stdout } = await audit('--json', '--outcome', 'denied', '--since', '2025-03-01T12:10:00Z');
    expect(code).toBe(0);
    // denied: i % 3 === 0; since 600 s after T0: i >= 600
    const want = Array.from({ length: ROWS }, (_, i) => i)
      .filter((i) => i >= 600 && i % 3 === 0)
      .reverse()
      .map((i) => `r${i}`);
    expect(jsonIds(stdout)).toEqual(want);
  });

  it('the table shows the newest 1000 and says on stderr how many it left out and how to see them', async () => {
    const { code, stdout, stderr } = await audit();
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 1000); // header + rows
    // The table has no request id column: its times say which rows it kept (r1108 … r109).
    expect(lines[1]).toMatch(/^2025-03-01 12:18:28Z /);
    expect(lines.at(-1)).toMatch(/^2025-03-01 12:01:49Z /);
    expect(stderr).toBe(
      'jitkey audit: 109 older matching rows were not shown: raise --limit (now 1000), use --json for every row, or narrow with --since/--repository/--outcome/--role\n',
    );
  });

  it('--limit caps the JSON too, and says what it left out', async () => {
    const { code, stdout, stderr } = await audit('--json', '--limit', '10');
    expect(code).toBe(0);
    expect(jsonIds(stdout)).toEqual(Array.from({ length: 10 }, (_, i) => `r${ROWS - 1 - i}`));
    expect(stderr).toBe(
      `jitkey audit: ${ROWS - 10} older matching rows were not shown: raise --limit (now 10) or leave it out for every row\n`,
    );
  });

  it('a table that fits says nothing on stderr', async () => {
    const { code, stdout, stderr } = await audit('--limit', `${ROWS}`);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout.trimEnd().split('\n')).toHaveLength(1 + ROWS);
  });
});
