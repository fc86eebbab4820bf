/**
 * IAM policy evaluation, as much of it as the STS stand-in needs to enforce a session policy:
 * an explicit Deny wins; otherwise some Allow must match (a session policy intersects the role's
 * permissions, which the stand-in takes as "everything"). Actions match with `*` and `?`
 * wildcards, case-insensitively; Resource is taken as `*`. Conditions: the Date operators on
 * `aws:CurrentTime`, and `aws:*` keys absent from the context fail their operator (a condition
 * the stand-in cannot evaluate fails closed: it throws).
 */
export type PolicyDecision = 'allow' | 'explicit-deny' | 'implicit-deny';

type Statement = Record<string, unknown>;

const DATE_OPERATORS: Record<string, (now: number, value: number) => boolean> = {
  DateGreaterThan: (now, v) => now > v,
  DateGreaterThanEquals: (now, v) => now >= v,
  DateLessThan: (now, v) => now < v,
  DateLessThanEquals: (now, v) => now <= v,
  DateEquals: (now, v) => now === v,
  DateNotEquals: (now, v) => now !== v,
};

function list(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(action);
}

function conditionsHold(condition: unknown, now: Date): boolean {
  if (condition === undefined) return true;
  for (const [operator, keys] of Object.entries(condition as Record<string, Record<string, unknown>>)) {
    const test = DATE_OPERATORS[operator];
    if (!test) throw new Error(`the stand-in does not evaluate condition operator ${operator}`);
    for (const [key, values] of Object.entries(keys)) {
      if (key.toLowerCase() !== 'aws:currenttime') {
        throw new Error(`the stand-in does not evaluate condition key ${key}`);
      }
      // Values of one key are ORed; keys and operators are ANDed.
      const hit = list(values).some((v) => {
        const at = Date.parse(v);
        if (Number.isNaN(at)) throw new Error(`'${v}' is not a date for ${operator}`);
        return test(now.getTime(), at);
      });
      if (!hit) return false;
    }
  }
  return true;
}

export function evaluatePolicy(policyJson: string, action: string, now: Date): PolicyDecision {
  const doc = JSON.parse(policyJson) as { Statement?: unknown };
  const statements = (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]) as Statement[];
  let allowed = false;
  for (const s of statements) {
    if (!s || typeof s !== 'object') continue;
    const hits = list(s.Action).some((p) => actionMatches(p, action));
    const notHits = s.NotAction !== undefined && !list(s.NotAction).some((p) => actionMatches(p, action));
    if (!(hits || notHits) || !conditionsHold(s.Condition, now)) continue;
    if (s.Effect === 'Deny') return 'explicit-deny';
    if (s.Effect === 'Allow') allowed = true;
  }
  return allowed ? 'allow' : 'implicit-deny';
}
