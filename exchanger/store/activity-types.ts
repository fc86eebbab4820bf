/** Lease activity (`activity/`): the credentials whose upstream activity is collected, and what they did. */

/**
 * One credential a lease issued whose upstream activity is collected: for AWS, the access key id
 * of the STS session (not a secret: CloudTrail records it with every call).
 */
export interface ActivityKey {
  leaseId: string;
  provider: string;
  /** AWS: the access key id. */
  keyId: string;
  /** Whose budget its lookups spend: the account and region (`activity/budget.ts`). */
  account: string;
  region: string;
  /** When the credential was issued and when it ends: the window its events fall in. */
  windowStart: Date;
  windowEnd: Date;
  nextPollAt: Date;
  /** `collecting` until a poll past the horizon succeeds; `unavailable` when it never could. */
  status: 'collecting' | 'complete' | 'unavailable';
  /** Why the last poll failed ("activity unavailable: …"), when it did. */
  reason?: string;
  /** When a poll last succeeded: events up to then (less the delivery delay) are in. */
  polledAt?: Date;
}

/** One upstream event made with a lease's credential: what an incident responder reads. */
export interface ActivityEvent {
  leaseId: string;
  keyId: string;
  /** The upstream's id of the event (CloudTrail `EventId`): an event is stored once. */
  eventId: string;
  at: Date;
  name: string;
  source: string;
  region?: string;
  resources: { type?: string; name?: string }[];
  errorCode?: string;
  readOnly?: boolean;
  /**
   * What else the upstream's record says that a responder reads (Kubernetes: the request URI, the
   * response code, the user agent, the source addresses); never a request or response body.
   */
  details?: Record<string, unknown>;
}

export interface ActivityStore {
  /** Registers a credential whose activity is to be collected (idempotent per lease and key). */
  addActivityKey(key: ActivityKey): Promise<void>;
  /**
   * Up to `limit` keys still collecting whose next poll is due at `now`, each pushed to
   * `leaseUntil` as it is taken, so another instance does not poll it meanwhile.
   */
  claimActivityKeys(now: Date, leaseUntil: Date, limit: number): Promise<ActivityKey[]>;
  /**
   * Stores the events of one poll (an event seen before is kept once) with the key's new state;
   * returns the ids of the events not seen before.
   */
  saveActivity(key: ActivityKey, events: ActivityEvent[]): Promise<string[]>;
  /** The keys with these ids, of any lease (the Kubernetes audit webhook finds a token's lease by its jti). */
  activityKeysById(keyIds: readonly string[]): Promise<ActivityKey[]>;
  /**
   * Stores events pushed by an upstream (the Kubernetes audit webhook), each kept once, without
   * touching their keys' state; returns the ids of the events not seen before.
   */
  addActivityEvents(events: ActivityEvent[]): Promise<string[]>;
  /** What is known of a lease's activity: its keys' states and their events, oldest first. */
  leaseActivity(leaseId: string): Promise<{ keys: ActivityKey[]; events: ActivityEvent[] }>;
}
