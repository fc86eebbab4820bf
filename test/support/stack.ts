/**
 * A whole exchanger stack on loopback, for end-to-end tests: a GitHub-shaped OIDC issuer, the
 * STS stand-in, and `jitkey serve` as a real process with a policy that trusts that issuer.
 *
 *   const stack = await startStack();                 // policy: `policyFor(issuerUrl)` below
 *   const res = await stack.exchange(stack.idp.mint(), { role: 'deploy' });
 *   await stack.stop();
 */
import { type ExchangerProcess, type StartOptions, startExchanger } from './exchanger-process.js';
import { type OidcIssuer, startOidcIssuer } from './oidc-issuer.js';
import { type StsStandin, startStsStandin } from './sts-standin.js';

export const STS_KEY = { accessKeyId: 'AKIAJITKEYEXCHANGER', secretAccessKey: 'exchanger-test-secret-key' };
export const ROLE_ARN = 'arn:aws:iam::111122223333:role/web-deploy';
/** A second role whose ARN tests can make STS refuse (`sts.denyRole(UNTRUSTED_ROLE_ARN)`). */
export const UNTRUSTED_ROLE_ARN = 'arn:aws:iam::111122223333:role/untrusted';

/** A small policy over the test issuer: one AWS role for acme/web main, production. */
export function policyFor(issuerUrl: string, extra = ''): string {
  return `version: 1
issuers:
  - url: ${issuerUrl}
    audience: jitkey
defaults: { duration: 15m, max_duration: 1h }
roles:
  deploy:
    description: Deploy acme/web
    provider: aws
    aws:
      role_arn: ${ROLE_ARN}
      region: us-east-1
      session_tags: { repository: "\${repository}", run: "\${run_id}" }
    max_duration: 30m
    allow:
      - repository: acme/web
        repository_id: "123456"
        ref: refs/heads/main
        environment: production
        event_name: [push, workflow_dispatch]
    deny:
      - event_name: [pull_request, pull_request_target]
  untrusted:
    provider: aws
    aws: { role_arn: ${UNTRUSTED_ROLE_ARN} }
    allow:
      - repository_id: "123456"
${extra}`;
}

export interface Stack {
  idp: OidcIssuer;
  sts: StsStandin;
  exchanger: ExchangerProcess;
  env: Record<string, string>;
  exchange(token: string | undefined, body: unknown, headers?: Record<string, string>): Promise<Answer>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
  stop(): Promise<void>;
}

export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected field by field
  body: any;
}

export function stsEnv(sts: StsStandin): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_STS: sts.url,
    AWS_ACCESS_KEY_ID: STS_KEY.accessKeyId,
    AWS_SECRET_ACCESS_KEY: STS_KEY.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
}

export async function startStack(
  options: { policy?: (issuerUrl: string) => string; exchanger?: Omit<StartOptions, 'policy'> } = {},
): Promise<Stack> {
  const idp = await startOidcIssuer();
  const sts = await startStsStandin(STS_KEY);
  const env = { ...stsEnv(sts), ...options.exchanger?.env };
  const exchanger = await startExchanger({
    ...options.exchanger,
    policy: (options.policy ?? policyFor)(idp.url),
    env,
  });
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(`${exchanger.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
  return {
    idp,
    sts,
    exchanger,
    env,
    post,
    exchange: (token, body, headers = {}) =>
      post(
        '/v1/exchange',
        body,
        token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers },
      ),
    stop: async () => {
      await exchanger.stop();
      await Promise.all([idp.stop(), sts.stop()]);
    },
  };
}
