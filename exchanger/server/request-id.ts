/** The id of one HTTP request: in its answer, its logs and its audit row. Not a secret. */
import { randomString } from '../random.js';

export function newRequestId(): string {
  return `req_${randomString(12)}`;
}
