/** A `permissions:` map of GitHub App permissions, read alike in a github role and a team's scope. */
import { isMap } from 'yaml';
import { didYouMean } from '../model/suggest.js';
import { GITHUB_ACCESS, GITHUB_PERMISSIONS } from './keys.js';
import type { Field, Reader } from './read.js';

export type Access = (typeof GITHUB_ACCESS)[number];

const PERMISSION_SET: ReadonlySet<string> = new Set(GITHUB_PERMISSIONS);

/**
 * Each known permission with its level; an empty map, an unknown name (with a suggestion) or a
 * level other than read / write / admin is an error at its place, and that entry is left out.
 */
export function readPermissions(r: Reader, field: Field, path: string): Record<string, Access> {
  const permissions: Record<string, Access> = {};
  const entries = r.entries(field.value, `${path}.permissions`, field.key) ?? [];
  if (entries.length === 0 && field.value && isMap(field.value)) {
    r.error(field.value, `${path}.permissions must name at least one permission`);
  }
  for (const e of entries) {
    if (!PERMISSION_SET.has(e.name)) {
      const hint = didYouMean(e.name, GITHUB_PERMISSIONS);
      r.error(e.key, `unknown GitHub permission '${e.name}' in ${path}.permissions${hint}`);
      continue;
    }
    const access = r.string(e, `${path}.permissions.${e.name}`);
    const level = GITHUB_ACCESS.find((a) => a === access);
    if (level) permissions[e.name] = level;
    else if (access !== undefined) {
      r.error(e.value, `${path}.permissions.${e.name}: '${access}' must be read, write or admin`);
    }
  }
  return permissions;
}

/**
 * A GitHub App's organization permissions: they act on the whole organization, not on the
 * repositories a role lists.
 */
export function organizationPermissions(permissions: Readonly<Record<string, Access>>): string[] {
  return Object.keys(permissions).filter(
    (p) => p === 'members' || p === 'team_discussions' || p.startsWith('organization_'),
  );
}
