/**
 * The whole-server limits of `jitkey serve --workers N`, held by the primary: the refusal fold
 * and the approver-call and sign-in budgets are counted here once, so N workers hold one address
 * to one budget whichever worker its requests reach. Workers ask over IPC (cluster-protocol.ts).
 */
import { callerBudget } from '../approvals/caller-budget.js';
import { SIGN_INS_PER_MINUTE } from '../console/auth.js';
import { JitkeyError } from '../errors.js';
import { createRefusalFold } from '../exchange/refusal-fold.js';
import { newRequestId } from '../server/request-id.js';
import type { BudgetRefusal, ToPrimary } from './cluster-protocol.js';

const QUESTION_KINDS = ['fold-admit', 'fold-due', 'approver-call', 'sign-in'] as const;
const QUESTIONS: ReadonlySet<string> = new Set(QUESTION_KINDS);

/** The limits' questions among the messages workers send. */
export type LimitQuestion = Extract<ToPrimary, { jitkey: (typeof QUESTION_KINDS)[number] }>;

export const isLimitQuestion = (message: ToPrimary): message is LimitQuestion =>
  QUESTIONS.has(message.jitkey);

/** Answers a worker's question about the whole-server limits (the value its `answer` carries). */
export function clusterLimits(now: () => Date = () => new Date()): (question: LimitQuestion) => unknown {
  const fold = createRefusalFold({ now, requestId: newRequestId });
  const approverCalls = callerBudget({ now });
  const signIns = callerBudget({ now, perMinute: SIGN_INS_PER_MINUTE, what: 'sign-in attempts' });
  const spend = (budget: (peer: string) => void, peer: string): BudgetRefusal | undefined => {
    try {
      budget(peer);
      return undefined;
    } catch (err) {
      if (!(err instanceof JitkeyError)) throw err;
      return { message: err.message, retryAfter: err.retryAfter ?? 1 };
    }
  };
  return (question) => {
    switch (question.jitkey) {
      case 'fold-admit':
        return fold.admit(question.subject, question.event, question.code);
      case 'fold-due':
        return fold.due(question.all);
      case 'approver-call':
        return spend(approverCalls, question.peer);
      case 'sign-in':
        return spend(signIns, question.peer);
    }
  };
}
