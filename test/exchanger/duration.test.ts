import { describe, expect, it } from 'vitest';
import { formatDuration, formatRoughly, formatTimeLeft, parseDuration } from '../../exchanger/duration.js';

describe('parseDuration', () => {
  it.each([
    ['900', 900],
    ['90s', 90],
    ['15m', 900],
    ['1h', 3600],
    ['1h30m', 5400],
    ['2d', 172800],
    [' 15m ', 900],
  ])('%s → %d s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '0', '-5', '15 m', '1.5h', '15x', 'm', 'h1', '1h 30m'])(
    'refuses %j with a message that says how to write it',
    (text) => {
      expect(() => parseDuration(text)).toThrow(/write a positive whole number of seconds or units like 15m/);
    },
  );

  it.each([
    [900, '15m'],
    [5400, '1h30m'],
    [3600, '1h'],
    [45, '45s'],
    [61, '61s'],
    [3660, '1h1m'],
    [172800, '48h'],
    [3601, '3601s'],
  ])('formats %d as %s, exactly', (s, text) => {
    expect(formatDuration(s)).toBe(text);
    expect(parseDuration(text)).toBe(s);
  });
});

describe('formatRoughly (a table column: the largest unit and the next)', () => {
  it.each([
    [0, '0s'],
    [95, '1m35s'],
    [95.9, '1m35s'],
    [3600, '1h'],
    [3661, '1h1m'],
    [90_000, '1d1h'],
    [86_400 + 59, '1d'],
    [-5, '0s'],
  ])('%d s → %s', (s, text) => {
    expect(formatRoughly(s)).toBe(text);
  });
});

describe('formatTimeLeft (the console: words, rounded up to the minute)', () => {
  it.each([
    [1, '1 min'],
    [29 * 60_000, '29 min'],
    [29 * 60_000 + 1, '30 min'],
    [60 * 60_000, '1 h'],
    [65 * 60_000, '1 h 5 min'],
    [25 * 3_600_000, '25 h'],
    [0, 'expired'],
    [-1, 'expired'],
    [Number.NaN, 'expired'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatTimeLeft(ms)).toBe(text);
  });
});
