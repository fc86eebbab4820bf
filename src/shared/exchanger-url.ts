/**
 * The `exchanger-url` input as the main step reads it and the post step reads it back from state:
 * the same rule as every URL the exchanger checks (`exchanger/net/url-rule.ts`).
 */
import { UrlRefusal, urlRefusal } from '../../exchanger/net/url-rule.js';

/** https anywhere; plain http only to a loopback host (a local exchanger in tests or a sidecar). */
export function parseExchangerUrl(text: string): { base: URL; text: string } {
  const refusal = urlRefusal(text, { refuseCredentials: true, refuseQuery: true });
  if (refusal?.reason === 'not_absolute')
    throw new UrlRefusal(refusal.reason, `${refusal.message} such as https://jitkey.example.com`);
  if (refusal) throw refusal;
  const url = new URL(text);
  const base = new URL(url.href.endsWith('/') ? url.href : `${url.href}/`);
  return { base, text: base.href.replace(/\/$/, '') };
}
