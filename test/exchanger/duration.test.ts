import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../exchanger/duration.js';

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
  ])('formats %d as %s', (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });
});
