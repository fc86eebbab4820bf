/**
 * The exchanger's own Google identity for the activity lookups: the very auth the GCP provider
 * uses, taken from an IAM Credentials client built as the provider builds its own (Application
 * Default Credentials, cloud-platform scope; with a service-account key file, a self-signed JWT
 * carrying that scope, so no round trip to a token endpoint). The client library is loaded on the
 * first lookup, not at start (it costs ~0.3 s), and only its auth object is used: no call is made
 * to IAM Credentials.
 */
import type { IAMCredentialsClient } from '@google-cloud/iam-credentials';
import type { GoogleIdentity } from './gcp-logging.js';

const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

type GoogleAuth = IAMCredentialsClient['auth'];

/** A load that failed is tried again on the next call. */
function retrying<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load();
    pending.catch(() => {
      pending = undefined;
    });
    return pending;
  };
}

export function applicationDefaultIdentity(): GoogleIdentity {
  const auth = retrying<GoogleAuth>(async () => {
    const { IAMCredentialsClient } = await import('@google-cloud/iam-credentials');
    return new IAMCredentialsClient({ fallback: true, scopes: [CLOUD_PLATFORM_SCOPE] }).auth;
  });
  const email = retrying(async () => {
    const { client_email: own } = await (await auth()).getCredentials();
    if (!own) {
      throw new Error(
        "the exchanger's own Google identity has no email (client_email) to match the delegation chain by",
      );
    }
    return own;
  });
  return {
    headers: async (url) => (await auth()).getRequestHeaders(url),
    email,
  };
}
