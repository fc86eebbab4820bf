/**
 * The forwarded store (`jitkey serve --workers N` on SQLite: the workers' calls run in the
 * primary) keeps every promise of the Store port: the whole contract suite runs through it, each
 * message crossing as JSON text the way node:cluster's channel carries it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JitkeyError } from '../../exchanger/errors.js';
import { type Channel, forwardedStore } from '../../exchanger/store/forwarded.js';
import { hostClient } from '../../exchanger/store/forwarded-host.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';
import { storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-forwarded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A JSON channel between this process's client and host, delivering on a later turn as IPC does. */
function channel(): { client: Channel; host: (store: Store) => void; close(): void } {
  const toClient: ((message: unknown) => void)[] = [];
  const closing: (() => void)[] = [];
  let toHost: ((message: unknown) => void) | undefined;
  const across = (message: unknown) => JSON.parse(JSON.stringify(message));
  return {
    client: {
      send: (message) => setImmediate(() => toHost?.(across(message))),
      onMessage: (listener) => toClient.push(listener),
      onClose: (listener) => closing.push(listener),
    },
    host(store) {
      const link = hostClient(store, (answers) =>
        setImmediate(() => {
          for (const listener of toClient) listener(across(answers));
        }),
      );
      toHost = (message) => link.receive(message);
    },
    close() {
      toHost = undefined;
      for (const listener of closing) listener();
    },
  };
}

/** A forwarded store in front of a real SQLite store on `path`; closing it closes both. */
async function forwarded(path: string, options: StoreOptions = {}): Promise<Store> {
  const host = await openStore(`sqlite:${path}`, options);
  const link = channel();
  link.host(host);
  const client = forwardedStore(link.client, 'sqlite');
  return {
    ...client,
    async close() {
      await client.close();
      await host.close();
    },
  };
}

storeContract({
  name: 'sqlite, forwarded over a channel',
  groupCommit: true,
  async fresh() {
    const path = join(dir, `store-${++n}.db`);
    return { open: (options) => forwarded(path, options), cleanup: async () => {} };
  },
});

describe('forwarded store', () => {
  it('hands a JitkeyError back with its code, and refuses calls once its host is gone', async () => {
    const host = await openStore(`sqlite:${join(dir, 'errors.db')}`, { purgeIntervalMs: 0 });
    const link = channel();
    link.host(host);
    const store = forwardedStore(link.client, 'sqlite');
    const refusal = await store.queryAudit({ limit: -1 }).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(JitkeyError);
    expect(refusal).toMatchObject({ code: 'invalid_request', status: 400 });

    const pending = store.getLease('never-answered');
    link.close();
    await expect(pending).rejects.toMatchObject({ code: 'unavailable', status: 503 });
    await expect(store.ping()).rejects.toMatchObject({ code: 'unavailable' });
    await host.close();
  });
});

describe('closing a forwarded store', () => {
  it('settles every close once the calls in flight are answered, the first one too', async () => {
    const host = await openStore(`sqlite:${join(dir, 'close.db')}`, { purgeIntervalMs: 0 });
    const link = channel();
    link.host(host);
    const store = forwardedStore(link.client, 'sqlite');
    const lease = store.getLease('in-flight');
    // A shutdown signalled twice closes twice; neither may wait forever.
    await Promise.all([store.close(), store.close()]);
    await expect(lease).resolves.toBeUndefined();
    await expect(store.ping()).rejects.toMatchObject({ code: 'unavailable' });
    await host.close();
  });
});
