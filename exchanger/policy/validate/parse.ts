/**
 * YAML text → a document that keeps positions. Syntax problems come back as issues at
 * `file:line:col`; nothing is thrown here, so `check` can report them with everything else.
 */
import { type Document, LineCounter, parseDocument } from 'yaml';
import type { PolicyIssue } from '../model/errors.js';

export interface ParsedPolicy {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export function parsePolicyText(text: string, file: string): { parsed: ParsedPolicy; issues: PolicyIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    strict: true,
    uniqueKeys: true,
    version: '1.2',
    merge: false,
  });
  const issues: PolicyIssue[] = [...doc.errors, ...doc.warnings].map((e) => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    return { file, line, col, message: firstLine(e.message) };
  });
  return { parsed: { file, doc, lineCounter }, issues };
}

/** The yaml package may append a source excerpt after the first line; the position says where. */
function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? message;
  return line.replace(/ at line \d+, column \d+:?$/, '').trim();
}
