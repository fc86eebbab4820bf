/** The bench's one table: each figure with the baseline measured in the same run, and its goal. */

export interface Row {
  /** Section of the bench report, as the bench file that measures it names itself (`Section 10: …`). */
  section: number;
  figure: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  /** value ÷ baseline, when a baseline exists. */
  ratio?: number;
  goal?: { text: string; met: boolean };
  note?: string;
}

export function row(
  section: number,
  figure: string,
  value: number,
  unit: string,
  extra: {
    baseline?: { label: string; value: number };
    goal?: { text: string; met: boolean };
    note?: string;
  } = {},
): Row {
  const out: Row = { section, figure, value, unit };
  if (extra.baseline) {
    out.baseline = extra.baseline;
    if (extra.baseline.value !== 0) out.ratio = value / extra.baseline.value;
  }
  if (extra.goal) out.goal = extra.goal;
  if (extra.note) out.note = extra.note;
  return out;
}

export function fmt(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  const n = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${n} ${unit}` : n;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function renderTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => [
    String(r.section),
    r.figure,
    fmt(r.value, r.unit),
    r.baseline ? `${fmt(r.baseline.value, r.unit)} (${r.baseline.label})` : '',
    r.ratio !== undefined ? `${fmt(r.ratio, '')}×` : '',
    r.goal ? r.goal.text : '',
    r.goal ? (r.goal.met ? 'met' : 'MISSED') : '',
  ]);
  const head = ['#', 'figure', 'value', 'baseline (same run)', 'ratio', 'goal', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const right = [false, false, true, true, true, false, false];
  const line = (c: string[]) =>
    c
      .map((t, i) => pad(t, widths[i]!, right[i]))
      .join('  ')
      .trimEnd();
  const out = [line(head), widths.map((w) => '─'.repeat(w)).join('  ')];
  let section = 0;
  for (const [i, c] of cells.entries()) {
    if (rows[i]!.section !== section && section !== 0) out.push('');
    section = rows[i]!.section;
    out.push(line(c));
  }
  return out.join('\n');
}
