import { describe, expect, it } from 'vitest';
import { openStore, parseStoreUrl } from '../../exchanger/store/open.js';

describe('parseStoreUrl', () => {
  it.each([
    { url: 'sqlite:./jitkey.db', want: { kind: 'sqlite', path: './jitkey.db' } },
    { url: 'sqlite:/var/lib/jitkey/jitkey.db', want: { kind: 'sqlite', path: '/var/lib/jitkey/jitkey.db' } },
    { url: 'sqlite:///var/lib/jitkey.db', want: { kind: 'sqlite', path: '/var/lib/jitkey.db' } },
    { url: 'sqlite::memory:', want: { kind: 'sqlite', path: ':memory:' } },
    { url: 'postgres://u@db:5432/jitkey', want: { kind: 'postgres', url: 'postgres://u@db:5432/jitkey' } },
    { url: 'postgresql://u@db/jitkey', want: { kind: 'postgres', url: 'postgresql://u@db/jitkey' } },
    {
      url: 'postgres://u@db/jitkey?schema=jitkey_a',
      want: { kind: 'postgres', url: 'postgres://u@db/jitkey', schema: 'jitkey_a' },
    },
    {
      url: 'postgres://u:p@db/jitkey?sslmode=verify-full&schema=jitkey_a&application_name=x',
      want: {
        kind: 'postgres',
        url: 'postgres://u:p@db/jitkey?sslmode=verify-full&application_name=x',
        schema: 'jitkey_a',
      },
    },
  ])('$url', ({ url, want }) => {
    expect(parseStoreUrl(url)).toEqual(want);
  });

  it.each([
    { url: 'mysql://root:s3cret@db/jitkey', says: "unsupported store 'mysql:…'" },
    { url: './jitkey.db', says: "unsupported store './jitkey.db'" },
    { url: 'sqlite:', says: "store URL 'sqlite:' names no file" },
  ])('refuses $url, naming the accepted forms', ({ url, says }) => {
    expect(() => parseStoreUrl(url)).toThrow(says);
    expect(() => parseStoreUrl(url)).toThrow(/sqlite:PATH .* postgres:\/\//);
    expect(() => parseStoreUrl(url)).not.toThrow(/s3cret/);
  });

  it('openStore refuses a ?schema= that is not a plain identifier', async () => {
    await expect(openStore('postgres://u@127.0.0.1:1/db?schema=a-b')).rejects.toThrow(/plain SQL identifier/);
  });

  it('openStore rejects the same way', async () => {
    await expect(openStore('redis://localhost')).rejects.toThrow(/accepted|use sqlite:PATH/);
  });
});
