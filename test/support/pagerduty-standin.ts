/**
 * A PagerDuty REST API stand-in on loopback: `GET /oncalls` as PagerDuty answers it, checking the
 * `Authorization: Token token=…` header (401 otherwise) and recording each query. `oncalls` is
 * what it answers; `failWith` makes it answer that status instead; `gather` holds the answers
 * until that many queries came, then sends them all at once (requests that race).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PagerDutyOnCall {
  user: { id: string; summary: string; email?: string };
  schedule: { id: string } | null;
  start: string | null;
  end: string | null;
}

export interface PagerDutyStandin {
  url: string;
  token: string;
  oncalls: PagerDutyOnCall[];
  failWith?: number;
  gather?: number;
  /** Each query's parameters (repeated keys as lists), and whether its token was right. */
  queries: Array<{ params: Record<string, string | string[]>; authorized: boolean }>;
  stop(): Promise<void>;
}

export async function startPagerDutyStandin(token = 'pd_test_token_0001'): Promise<PagerDutyStandin> {
  const state = { oncalls: [], queries: [] } as unknown as PagerDutyStandin;
  let held: Array<() => void> = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const params: Record<string, string | string[]> = {};
    for (const key of new Set(url.searchParams.keys())) {
      const all = url.searchParams.getAll(key);
      params[key] = key.endsWith('[]') ? all : all[0]!;
    }
    const authorized = req.headers.authorization === `Token token=${token}`;
    state.queries.push({ params, authorized });
    const write = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const send = (status: number, body: unknown) => {
      if (!state.gather) return write(status, body);
      held.push(() => write(status, body));
      if (held.length < state.gather) return;
      const all = held;
      held = [];
      for (const answer of all) answer();
    };
    if (req.method !== 'GET' || url.pathname !== '/oncalls')
      return send(404, { error: { message: 'Not Found' } });
    if (!authorized) return send(401, { error: { message: 'Unauthorized', code: 2006 } });
    if (state.failWith) return send(state.failWith, { error: { message: 'Internal Server Error' } });
    const schedules = new Set(params['schedule_ids[]'] ?? []);
    const withUsers = ([] as string[]).concat(params['include[]'] ?? []).includes('users');
    const oncalls = state.oncalls
      .filter((o) => o.schedule && schedules.has(o.schedule.id))
      .map((o) => ({
        ...o,
        // Without include[]=users PagerDuty answers user references, without their email.
        user: withUsers ? o.user : { id: o.user.id, summary: o.user.summary, type: 'user_reference' },
      }));
    send(200, { oncalls, limit: 100, offset: 0, more: false, total: null });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return state;
}
