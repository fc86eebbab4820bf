/** A fixed-width table for people: one header row, cells cleaned and cut to their column's width. */
import { clean, truncate } from './clean.js';

export interface Column<T> {
  title: string;
  max: number;
  /** Undefined or empty shows as `-`. */
  value(item: T): string | undefined;
}

export function formatTable<T>(columns: readonly Column<T>[], items: readonly T[]): string {
  const rows = items.map((item) => columns.map((c) => truncate(clean(c.value(item) || '-'), c.max)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((c) => c.title)), ...rows.map(line)].join('\n')}\n`;
}

/** The TIME column of a table of timed rows: UTC to the second, `2026-01-02 03:04:05Z`. */
export function timeColumn<T extends { at: Date }>(): Column<T> {
  return {
    title: 'TIME',
    max: 20,
    value: (row) =>
      row.at
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z'),
  };
}
