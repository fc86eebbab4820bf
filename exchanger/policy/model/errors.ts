/**
 * Load errors for a policy file. Every problem is collected (not just the first) and each one
 * carries where it stands, so `jitkey check` can print `file:line:col: message` lines.
 */
export interface PolicyIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  message: string;
}

export function formatIssue(issue: PolicyIssue, severity?: 'error' | 'warning'): string {
  const where = `${issue.file}:${issue.line}:${issue.col}`;
  return severity ? `${where}: ${severity}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** By file, then in file order, so output reads top to bottom. Stable for issues at the same place. */
export function sortIssues<T extends PolicyIssue>(issues: readonly T[]): T[] {
  return [...issues].sort(
    (a, b) => (a.file === b.file ? 0 : a.file < b.file ? -1 : 1) || a.line - b.line || a.col - b.col,
  );
}

export class PolicyError extends Error {
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[]) {
    const sorted = sortIssues(issues);
    const count = sorted.length === 1 ? '1 error' : `${sorted.length} errors`;
    super(`invalid policy (${count}):\n${sorted.map((i) => formatIssue(i)).join('\n')}`);
    this.name = 'PolicyError';
    this.issues = sorted;
  }

  /** One issue per line, `file:line:col: message`. */
  override toString(): string {
    return this.issues.map((i) => formatIssue(i)).join('\n');
  }
}

export function isPolicyError(e: unknown): e is PolicyError {
  return e instanceof PolicyError;
}
