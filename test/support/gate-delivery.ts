/**
 * A `deployment_protection_rule` delivery's body as GitHub sends it: run 42 of acme/web (id
 * 123456), waiting for `production`, installation 7. `over` replaces fields.
 */
export const gateDelivery = (over: Record<string, unknown> = {}) => ({
  action: 'requested',
  environment: 'production',
  event: 'push',
  sha: 'A'.repeat(40),
  ref: 'refs/heads/main',
  deployment_callback_url: 'https://api.github.com/repos/acme/web/actions/runs/42/deployment_protection_rule',
  repository: { id: 123456, full_name: 'acme/web' },
  installation: { id: 7 },
  ...over,
});
