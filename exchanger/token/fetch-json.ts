/** A bounded GET of a small JSON document (discovery, JWKS), through the HTTP core (`net/http-client.ts`). */
import { fetchTransport, httpCall } from '../net/http-client.js';

export interface FetchJsonOptions {
  fetch: typeof fetch;
  timeoutMs: number;
  maxBytes: number;
}

/** Throws an Error whose message names `GET <url>` and what went wrong (these URLs are public). */
export async function fetchJson(url: string, options: FetchJsonOptions): Promise<unknown> {
  const name = `GET ${url}`;
  const answer = await httpCall(
    {
      name,
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes,
    },
    fetchTransport(options.fetch),
  );
  if (answer.status !== 200) throw new Error(`${name} answered HTTP ${answer.status}`);
  return answer.json();
}
