/** The mint request the gcp and github provider tests send (not a test file itself). */
import type { Role } from '../../exchanger/policy/model/types.js';
import type { MintRequest } from '../../exchanger/providers/types.js';

export const mintRequestFor = (role: Role, durationSeconds = 900): MintRequest => ({
  role,
  claims: { repository: 'acme/web' },
  durationSeconds,
  requestId: 'req-1',
  leaseId: 'lease-1',
});
