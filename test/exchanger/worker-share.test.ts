/**
 * `--workers N`: each worker holds a client address to its share of the per-address connection
 * limits, so the whole server holds it to the documented limit (issue 24, item 10; before, every
 * worker applied the whole limit: 4 workers held 1,024 connections of one address against 256).
 */
import { describe, expect, it } from 'vitest';
import { workerShare } from '../../exchanger/cli/worker-share.js';
import { DEFAULT_LIMITS } from '../../exchanger/server/limits.js';

describe('workerShare', () => {
  it('gives each of N workers ceil(limit / N) of the per-address cap, the default one too', () => {
    expect(workerShare({}, 4).maxConnectionsPerPeer).toBe(
      Math.ceil(DEFAULT_LIMITS.maxConnectionsPerPeer / 4),
    );
    expect(workerShare({ maxConnectionsPerPeer: 256 }, 4).maxConnectionsPerPeer).toBe(64);
    // Whole server: at most N × ceil(limit / N), within N − 1 of the limit.
    expect(workerShare({ maxConnectionsPerPeer: 10 }, 4).maxConnectionsPerPeer).toBe(3);
    expect(workerShare({ maxConnectionsPerPeer: 1 }, 4).maxConnectionsPerPeer).toBe(1);
  });

  it('keeps a cap that is off (0) off, and one worker whole', () => {
    expect(workerShare({ maxConnectionsPerPeer: 0 }, 4).maxConnectionsPerPeer).toBe(0);
    expect(workerShare({ maxConnectionsPerPeer: 256 }, 1)).toEqual({ maxConnectionsPerPeer: 256 });
  });

  it('leaves the per-worker limits (in flight, timeouts) as they are', () => {
    const share = workerShare({ maxInFlight: 100, bodyTimeoutMs: 5000 }, 4);
    expect(share.maxInFlight).toBe(100);
    expect(share.bodyTimeoutMs).toBe(5000);
  });
});
