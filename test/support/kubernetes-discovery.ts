/**
 * The discovery documents of the Kubernetes API stand-in (`kubernetes-standin.ts`): just what
 * kubectl asks before `get configmaps` and `auth whoami`. Test-only.
 */
export type Reply = { status: number; body: unknown };

/** Just enough discovery for kubectl (`get configmaps`, `auth whoami`). */
export function discoveryAnswer(method: string, path: string): Reply | undefined {
  if (method !== 'GET') return undefined;
  const resource = (name: string, kind: string, verbs: string[], namespaced = true) => ({
    name,
    singularName: '',
    namespaced,
    kind,
    verbs,
  });
  switch (path) {
    case '/api':
      return {
        status: 200,
        body: {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }],
        },
      };
    case '/apis':
      return {
        status: 200,
        body: {
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: [
            {
              name: 'authentication.k8s.io',
              versions: [{ groupVersion: 'authentication.k8s.io/v1', version: 'v1' }],
              preferredVersion: { groupVersion: 'authentication.k8s.io/v1', version: 'v1' },
            },
          ],
        },
      };
    case '/api/v1':
      return {
        status: 200,
        body: {
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [
            resource('configmaps', 'ConfigMap', ['get', 'list']),
            resource('secrets', 'Secret', ['create', 'delete', 'get', 'list']),
            resource('serviceaccounts', 'ServiceAccount', ['get']),
            resource('serviceaccounts/token', 'TokenRequest', ['create']),
          ],
        },
      };
    case '/apis/authentication.k8s.io/v1':
      return {
        status: 200,
        body: {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: 'authentication.k8s.io/v1',
          resources: [
            resource('selfsubjectreviews', 'SelfSubjectReview', ['create'], false),
            resource('tokenreviews', 'TokenReview', ['create'], false),
          ],
        },
      };
    default:
      return undefined;
  }
}
