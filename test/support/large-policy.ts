/**
 * A policy directory at organisation scale for the reload tests and the bench: `org.yaml` and
 * `teams` team files of `rolesPerTeam` roles each (40,000 roles over 100 teams is 6.4 MiB).
 * `otherTeams` are team files the caller writes (org.yaml gives them their `<team>-*` roles).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `org.yaml` for `teams`: each may grant the AWS roles named `<team>-…` of one account. */
export function largeOrgYaml(issuer: string, teams: readonly string[]): string {
  return [
    'version: 1',
    'issuers:',
    `  - { url: "${issuer}", audience: jitkey }`,
    'defaults: { duration: 15m, max_duration: 1h }',
    'ceilings: { max_duration: 2h, providers: [aws, gcp, github] }',
    'teams:',
    ...teams.map(
      (t) => `  ${t}: { resources: { aws: { role_arns: ["arn:aws:iam::111122223333:role/${t}-*"] } } }`,
    ),
    'guardrails:',
    '  - name: no-untrusted-events-on-write',
    '    applies_to: { write: true }',
    '    deny:',
    '      - event_name: [pull_request_target, workflow_run]',
    '',
  ].join('\n');
}

export function largeTeamYaml(team: string, roles: number): string {
  const out = ['version: 1', 'owners:', `  - acme/${team}-*`, 'roles:'];
  for (let i = 0; i < roles; i++) {
    const name = `${team}-r${String(i).padStart(5, '0')}`;
    out.push(
      `  ${name}:`,
      '    provider: aws',
      `    aws: { role_arn: "arn:aws:iam::111122223333:role/${name}" }`,
      `    allow: [{ repository: acme/${team}-s${i}, ref: refs/heads/main }]`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** Writes the directory under `dir` (created); returns the total size in bytes. */
export function writeLargePolicyDir(
  dir: string,
  options: { issuer: string; teams?: number; rolesPerTeam?: number; otherTeams?: readonly string[] },
): number {
  const teams = options.teams ?? 100;
  const perTeam = options.rolesPerTeam ?? 400;
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    bytes += Buffer.byteLength(text);
  };
  const names = Array.from({ length: teams }, (_, t) => `t${String(t).padStart(3, '0')}`);
  write('org.yaml', largeOrgYaml(options.issuer, [...(options.otherTeams ?? []), ...names]));
  for (const name of names) write(`${name}.yaml`, largeTeamYaml(name, perTeam));
  return bytes;
}
