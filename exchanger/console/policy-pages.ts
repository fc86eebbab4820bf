/**
 * The policy screen and its explain form (admins only). The decision is `policy/evaluate/explain.ts`'s, on
 * the policy in force: the same text `jitkey explain` prints. A past request's claims are the
 * ones recorded with it (the identifying claims): a condition on another claim shows as missing.
 */
import type { ServerResponse } from 'node:http';
import type { Claims } from '../claims.js';
import { JitkeyError } from '../errors.js';
import { explainDecision, formatExplanation } from '../policy/evaluate/explain.js';
import type { Policy } from '../policy/model/types.js';
import type { Store } from '../store/types.js';
import { sendHtml } from './respond.js';
import type { ConsolePage } from './router.js';
import type { SignedIn } from './session.js';
import { type ExplainShown, policyPage } from './view-policy.js';

export interface PolicyPageDeps {
  store: Pick<Store, 'getApprovalRequest' | 'queryAudit'>;
  policy: () => Policy;
  requireAdmin: (who: SignedIn) => Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The role and claims of a past request: an approval request's record, or its first audit row. */
async function pastRequest(
  store: PolicyPageDeps['store'],
  id: string,
): Promise<{ role?: string; claims: Claims }> {
  if (!REQUEST_ID.test(id))
    throw new JitkeyError('invalid_request', 'Request id: as the audit shows it, e.g. req_…');
  const request = await store.getApprovalRequest(id);
  if (request) return { role: request.role, claims: request.claims };
  const rows = await store.queryAudit({ requestId: id, limit: 50 });
  const first = rows.at(-1);
  if (!first)
    throw new JitkeyError('invalid_request', `No request ${id} in the store (it may have been purged).`);
  return { ...(first.role ? { role: first.role } : {}), claims: first.claims };
}

function parseClaims(text: string): Claims {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new JitkeyError('invalid_request', `Claims: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JitkeyError('invalid_request', 'Claims: write a JSON object, e.g. {"repository": "acme/web"}');
  }
  return value as Claims;
}

export function policyPages(deps: PolicyPageDeps): ConsolePage[] {
  const show = (res: ServerResponse, who: SignedIn, status: number, explain: ExplainShown) =>
    sendHtml(res, status, policyPage({ who, policy: deps.policy(), explain }));

  const explain = async (res: ServerResponse, who: SignedIn, form: URLSearchParams) => {
    const shown: ExplainShown = {
      role: form.get('role')?.trim() || undefined,
      claims: form.get('claims')?.trim() || undefined,
      requestId: form.get('request_id')?.trim() || undefined,
    };
    try {
      let role = shown.role;
      let claims: Claims;
      let from: string | undefined;
      if (shown.requestId) {
        const past = await pastRequest(deps.store, shown.requestId);
        role ??= past.role;
        claims = shown.claims ? parseClaims(shown.claims) : past.claims;
        if (!shown.claims)
          from = `With the claims recorded with request ${shown.requestId}; the policy in force now.`;
      } else if (shown.claims) {
        claims = parseClaims(shown.claims);
      } else {
        throw new JitkeyError('invalid_request', 'Give the claims as JSON, or the id of a past request.');
      }
      if (!role) throw new JitkeyError('invalid_request', 'Pick a role: the request does not name one.');
      const policy = deps.policy();
      const decision = explainDecision(policy, role, claims);
      const text = formatExplanation(policy.roles.get(role)!, decision, policy.source);
      show(res, who, 200, { ...shown, role, answer: { text, granted: decision.granted, from } });
    } catch (err) {
      if (!(err instanceof JitkeyError) || err.status >= 500) throw err;
      show(res, who, err.status, { ...shown, error: err.message });
    }
  };

  return [
    {
      method: 'GET',
      path: /^\/console\/policy$/,
      session: 'required',
      run: async (p) => {
        await deps.requireAdmin(p.who!);
        show(p.res, p.who!, 200, {});
      },
    },
    {
      method: 'POST',
      path: /^\/console\/policy\/explain$/,
      session: 'required',
      run: async (p) => {
        await deps.requireAdmin(p.who!);
        await explain(p.res, p.who!, p.form!);
      },
    },
  ];
}
