/**
 * The exchanger's own Google identity for the activity lookups: Application Default Credentials,
 * as the GCP provider uses them (cloud-platform scope; with a service-account key file, a
 * self-signed JWT carrying that scope, so no round trip to a token endpoint). google-auth-library
 * is loaded on the first lookup, not at start.
 */
import type { GoogleIdentity } from './gcp-logging.js';

const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export function applicationDefaultIdentity(): GoogleIdentity {
  let auth: Promise<import('google-auth-library').GoogleAuth> | undefined;
  const load = () => {
    auth ??= import('google-auth-library').then(({ GoogleAuth }) => {
      const a = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
      // As google-gax sets it for the provider's client: the scope in a self-signed JWT.
      a.useJWTAccessWithScope = true;
      return a;
    });
    auth.catch(() => {
      auth = undefined;
    });
    return auth;
  };
  let email: Promise<string> | undefined;
  return {
    async headers(url) {
      return (await load()).getRequestHeaders(url);
    },
    email() {
      email ??= load()
        .then((a) => a.getCredentials())
        .then((c) => {
          if (!c.client_email) {
            throw new Error(
              "the exchanger's own Google identity has no email (client_email) to match the delegation chain by",
            );
          }
          return c.client_email;
        });
      email.catch(() => {
        email = undefined;
      });
      return email;
    },
  };
}
