/**
 * Dependencies that earn their place: the exchanger's runtime `dependencies` are exactly the
 * packages `exchanger/**` imports, so the image (`npm prune --omit=dev`, see the Dockerfile)
 * carries what `jitkey serve` needs and nothing only the tests use.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/paths.js';

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The package a bare specifier names (`@aws-sdk/client-sts`, `yaml`); undefined for relative and node: ones. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('node:')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function importedPackages(sources: string[]): Set<string> {
  const out = new Set<string>();
  for (const text of sources) {
    for (const m of text.matchAll(IMPORT)) {
      const name = packageOf(m[1] ?? m[2] ?? '');
      if (name) out.add(name);
    }
  }
  return out;
}

/** What is wrong with the runtime dependencies, given what the exchanger imports. */
function problems(imported: Set<string>, dependencies: string[]): string[] {
  const out: string[] = [];
  for (const name of [...imported].sort())
    if (!dependencies.includes(name)) out.push(`exchanger/ imports ${name}, which is not in dependencies`);
  for (const name of dependencies)
    if (!imported.has(name))
      out.push(`${name} is in dependencies but exchanger/ never imports it: devDependencies`);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };

  it('are exactly the packages the exchanger imports', () => {
    const imported = importedPackages(
      tsFiles(join(REPO_ROOT, 'exchanger')).map((f) => readFileSync(f, 'utf8')),
    );
    expect(imported.size).toBeGreaterThan(5);
    expect(problems(imported, Object.keys(pkg.dependencies))).toEqual([]);
  });

  it('says which package is missing and which is only for tests', () => {
    const imported = importedPackages([
      "import { x } from '@aws-sdk/client-sts';\nimport type { Y } from 'yaml';\nconst z = await import('pg');",
      "import { readFileSync } from 'node:fs';\nimport { a } from './a.js';\n// form-action 'self'",
    ]);
    expect([...imported].sort()).toEqual(['@aws-sdk/client-sts', 'pg', 'yaml']);
    expect(problems(imported, ['@aws-sdk/client-sts', 'yaml', 'google-auth-library'])).toEqual([
      'exchanger/ imports pg, which is not in dependencies',
      'google-auth-library is in dependencies but exchanger/ never imports it: devDependencies',
    ]);
  });

  it('are all the image keeps: the Dockerfile drops the dev dependencies', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/npm (prune|ci)\b[^\n]*--omit=dev/);
  });
});
