/**
 * An export cursor's holder is this host and process; a holder of this host whose process has
 * ended is gone (its cursor need not be waited out), one still running or of another host is not.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { holderGone, thisHolder } from '../../exchanger/export/holder.js';

describe('the export cursor holder', () => {
  it('names the host and the process', () => {
    expect(thisHolder()).toBe(`${hostname()} pid ${process.pid}`);
    expect(holderGone(thisHolder())).toBe(false);
  });

  it('is gone once its process has ended, on this host only', async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const pid = child.pid!;
    expect(holderGone(`${hostname()} pid ${pid}`)).toBe(false);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(holderGone(`${hostname()} pid ${pid}`)).toBe(true);
    // The same pid on another host, or a holder that names no process: never taken before its time.
    expect(holderGone(`another-${hostname()} pid ${pid}`)).toBe(false);
    expect(holderGone(hostname())).toBe(false);
  });
});
