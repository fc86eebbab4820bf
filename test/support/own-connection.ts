/**
 * One HTTP request on a connection of its own (no agent): under `jitkey serve --workers N` the
 * primary hands each new connection to the next worker, so fresh connections spread over the
 * workers (fetch's pooled ones would not).
 */
import { type IncomingHttpHeaders, request } from 'node:http';

export interface OwnConnectionAnswer {
  status: number;
  text: string;
  headers: IncomingHttpHeaders;
}

/** `body`, when given, is sent as JSON; the answer's body is returned as text. */
export function sendOnOwnConnection(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<OwnConnectionAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      new URL(path, base),
      {
        method,
        agent: false,
        headers: {
          ...headers,
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
