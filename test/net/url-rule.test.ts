/**
 * One URL rule (exchanger/net/url-rule.ts), and every place that takes a URL gives the same
 * verdict for it: the Action's exchanger-url, the CLI's --url, issuers, STS / IAM Credentials /
 * GitHub API endpoints, policy URLs. Assertions are on the refusal's reason code.
 */
import { describe, expect, it } from 'vitest';
import { exchangerUrl } from '../../exchanger/cli/approver-client.js';
import { parseServiceUrl } from '../../exchanger/net/service-url.js';
import { isLoopbackHost, type UrlRefusalReason, urlRefusal } from '../../exchanger/net/url-rule.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { createAwsProvider } from '../../exchanger/providers/aws.js';
import { createVerifier } from '../../exchanger/token/verify-token.js';
import { parseExchangerUrl } from '../../src/shared/exchanger-url.js';

const cases: { url: string; refused?: UrlRefusalReason }[] = [
  { url: 'https://jitkey.example.com' },
  { url: 'https://jitkey.example.com:8443/base' },
  { url: 'http://127.0.0.1:8080' },
  { url: 'http://127.45.6.7' },
  { url: 'http://localhost:1' },
  { url: 'http://LOCALHOST:1' },
  { url: 'http://[::1]:9' },
  { url: 'http://jitkey.example.com', refused: 'http_off_loopback' },
  { url: 'http://10.0.0.5:8080', refused: 'http_off_loopback' },
  { url: 'http://localhost.evil.example', refused: 'http_off_loopback' },
  { url: 'http://127.0.0.1.nip.io', refused: 'http_off_loopback' },
  { url: 'http://128.0.0.1', refused: 'http_off_loopback' },
  { url: 'ftp://127.0.0.1', refused: 'not_https' },
  { url: 'jitkey.example.com', refused: 'not_absolute' },
  { url: '/v1/exchange', refused: 'not_absolute' },
];

/** Every validator, each returning the refusal's reason or undefined. */
async function reasonOf(check: () => unknown): Promise<string | undefined> {
  try {
    await check();
    return undefined;
  } catch (err) {
    return (err as { reason?: string }).reason ?? `untyped: ${(err as Error).message}`;
  }
}

const policyWith = (url: string) => `version: 1
issuers: [{ url: ${JSON.stringify(url)}, audience: jitkey }]
roles:
  r:
    provider: github
    github: { repositories: [acme/web], permissions: { contents: read } }
    allow: [{ repository: acme/web }]
`;

const validators: Record<string, (url: string) => Promise<string | undefined>> = {
  'the Action exchanger-url': (url) => reasonOf(() => parseExchangerUrl(url)),
  'jitkey approve --url': (url) => reasonOf(() => exchangerUrl(url)),
  'a service endpoint (GitHub API, IAM Credentials)': (url) =>
    reasonOf(() => parseServiceUrl(url, 'JITKEY_GITHUB_API_URL')),
  'the AWS STS endpoint': (url) =>
    reasonOf(() => createAwsProvider({ endpoint: url, region: 'us-east-1' }).close()),
  'a token issuer': (url) => reasonOf(() => createVerifier({ issuers: [{ url, audience: 'jitkey' }] })),
  'a policy issuer URL': async (url) => {
    try {
      loadPolicy(policyWith(url), 'policy.yaml');
      return undefined;
    } catch (err) {
      // The policy reports problems as text with positions: find the rule's own words in it.
      const refusal = urlRefusal(url);
      return refusal && String(err).includes(refusal.message) ? refusal.reason : `other: ${String(err)}`;
    }
  },
};

describe('the URL rule', () => {
  it.each(cases)('$url: $refused', ({ url, refused }) => {
    expect(urlRefusal(url)?.reason).toBe(refused);
  });

  it.each(Object.keys(validators))('%s gives the same verdict as the rule', async (name) => {
    const got: Record<string, string | undefined> = {};
    const want: Record<string, string | undefined> = {};
    for (const { url, refused } of cases) {
      got[url] = await validators[name]!(url);
      want[url] = refused;
    }
    expect(got).toEqual(want);
  });

  it('refuses credentials, a query or a fragment where asked, and never quotes a password', () => {
    const options = { refuseCredentials: true, refuseQuery: true };
    const creds = urlRefusal('https://user:hunter2@jitkey.example.com', options);
    expect(creds?.reason).toBe('credentials');
    expect(creds?.message).not.toContain('hunter2');
    expect(urlRefusal('https://jitkey.example.com/?x=1', options)?.reason).toBe('query_or_fragment');
    expect(urlRefusal('https://jitkey.example.com/#x', options)?.reason).toBe('query_or_fragment');
    expect(urlRefusal('https://jitkey.example.com/?x=1')).toBeUndefined();
    const plain = urlRefusal('http://user:hunter2@jitkey.example.com');
    expect(plain?.reason).toBe('http_off_loopback');
    expect(plain?.message).not.toContain('hunter2');
  });

  it('takes only https where httpsOnly says so (e.g. OAuth scopes)', () => {
    expect(urlRefusal('http://127.0.0.1/x', { httpsOnly: true })?.reason).toBe('not_https');
    expect(urlRefusal('https://www.googleapis.com/auth/cloud-platform', { httpsOnly: true })).toBeUndefined();
  });

  it.each([
    ['127.0.0.1', true],
    ['127.255.255.255', true],
    ['127.256.0.1', false],
    ['[::1]', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['[::ffff:127.0.0.1]', false],
  ])('isLoopbackHost(%s) is %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});
