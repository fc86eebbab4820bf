/**
 * The layers of docs/architecture.md, enforced: every import in exchanger/** and src/** runs
 * downwards (or stays in its folder), folders never import each other in a cycle, and the Action
 * bundles nothing of the exchanger beyond its core. A new folder must be given a layer here (an
 * Action folder a room in ACTION_ROOMS, a policy folder one in POLICY_ROOMS). No two files import
 * each other, directly or round a longer circle.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/paths.js';

/** Lowest first. A file may import its own layer's files or any lower layer's. */
const LAYERS: { name: string; parts: string[] }[] = [
  {
    name: 'core',
    parts: [
      'exchanger/errors.ts',
      'exchanger/claims.ts',
      'exchanger/ci-kinds.ts',
      'exchanger/ci-job.ts',
      'exchanger/duration.ts',
      'exchanger/log.ts',
      'exchanger/random.ts',
      'exchanger/digest.ts',
      // The HTTP API's shapes, types only: the Action's client and `jitkey credentials` read them.
      'exchanger/api-types.ts',
      'exchanger/text/',
      'exchanger/net/',
    ],
  },
  {
    name: 'domain',
    parts: ['exchanger/token/', 'exchanger/policy/', 'exchanger/store/'],
  },
  { name: 'github client, audit reads', parts: ['exchanger/github/', 'exchanger/audit/'] },
  // The SIEM export turns the audit reads' rows into OCSF / CloudEvents and sends them out.
  { name: 'SIEM export', parts: ['exchanger/export/'] },
  { name: 'providers', parts: ['exchanger/providers/'] },
  // Lease activity reads what upstreams recorded of the providers' credentials, into the store.
  { name: 'lease activity', parts: ['exchanger/activity/'] },
  // leases/ sits with the exchange: it seals what providers mint and sweeps leases through them.
  { name: 'exchange use-case', parts: ['exchanger/exchange/', 'exchanger/leases/'] },
  { name: 'approvals use-case', parts: ['exchanger/approvals/'] },
  // GitHub's deployment gate answers with the approvals and redeems through the exchange.
  { name: 'deployment gate', parts: ['exchanger/gate/'] },
  { name: 'http', parts: ['exchanger/server/'] },
  // The console renders pages over the approvals use-case and borrows the server's HTTP helpers.
  { name: 'console', parts: ['exchanger/console/'] },
  { name: 'cli', parts: ['exchanger/cli/'] },
];

/** The Action: its own world, which may take the exchanger's core and nothing more. */
const ACTION = 'src/';
const ACTION_MAY_IMPORT = 'core';

/**
 * The Action's rooms, lowest first, by the step they serve; imports run downwards as above. Rooms
 * marked `siblings` hold folders that never import each other (the post step takes nothing from
 * the main step: what both need lives lower).
 */
const ACTION_ROOMS: Room[] = [
  { name: 'shared', parts: ['src/shared/'] },
  { name: 'transport', parts: ['src/transport/'] },
  { name: 'client', parts: ['src/client/'] },
  { name: 'agent', parts: ['src/agent/'] },
  { name: 'steps', parts: ['src/main/', 'src/post/'], siblings: true },
  { name: 'entry points', parts: ['src/main.ts', 'src/post.ts'] },
];

/** The policy (a domain folder): each job a room, lowest first, in the same two rules as above. */
const POLICY = 'exchanger/policy/';
const POLICY_ROOMS: Room[] = [
  // The compiled policy's types, its issues and the pattern matchers every other room reads.
  { name: 'policy model', parts: ['exchanger/policy/model/'] },
  // The exchange evaluates a compiled policy and never needs the file's reader; load never
  // needs a decision.
  {
    name: 'policy checks (evaluate, validate)',
    parts: ['exchanger/policy/evaluate/', 'exchanger/policy/validate/'],
    siblings: true,
  },
  { name: 'policy load', parts: ['exchanger/policy/load/'] },
  // `jitkey check` and `jitkey test` stand on the rest, apart.
  {
    name: 'policy tools (lint, fixtures)',
    parts: ['exchanger/policy/lint/', 'exchanger/policy/fixtures/'],
    siblings: true,
  },
];

interface Room {
  name: string;
  parts: string[];
  /** The room's folders never import each other. */
  siblings?: boolean;
}

const partOf = (file: string, parts: string[]) =>
  parts.find((p) => (p.endsWith('/') ? file.startsWith(p) : file === p));

function roomOf(rooms: Room[], file: string): number {
  return rooms.findIndex((r) => partOf(file, r.parts) !== undefined);
}

/** What is wrong with one import between two rooms of the same list. */
function roomImport(rooms: Room[], from: string, to: string): string[] {
  const [source, target] = [roomOf(rooms, from), roomOf(rooms, to)];
  if (source < 0 || target < 0) return [];
  const room = rooms[source]!;
  if (target > source) {
    return [
      `${from} (${room.name}) imports ${to} (${rooms[target]!.name}): a lower room must not import a higher one`,
    ];
  }
  if (target === source && room.siblings && partOf(from, room.parts) !== partOf(to, room.parts)) {
    return [`${from} imports ${to}: the ${room.name} do not import each other`];
  }
  return [];
}

interface Import {
  from: string;
  to: string;
}

function layerOf(file: string): number {
  return LAYERS.findIndex((l) => l.parts.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)));
}

/** The folder a file belongs to for the cycle check (`exchanger/x.ts` counts as `exchanger/`). */
function folderOf(file: string): string {
  return `${posix.dirname(file)}/`;
}

/** What is wrong with these imports; empty when every one runs the right way. */
function violations(imports: Import[], files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    if (!f.startsWith(ACTION) && layerOf(f) < 0) out.push(`${f} belongs to no layer: add it to LAYERS`);
    if (f.startsWith(ACTION) && roomOf(ACTION_ROOMS, f) < 0)
      out.push(`${f} belongs to no room: add it to ACTION_ROOMS`);
    if (f.startsWith(POLICY) && roomOf(POLICY_ROOMS, f) < 0)
      out.push(`${f} belongs to no room: add it to POLICY_ROOMS`);
  }
  const core = LAYERS.findIndex((l) => l.name === ACTION_MAY_IMPORT);
  for (const { from, to } of imports) {
    const fromAction = from.startsWith(ACTION);
    const toAction = to.startsWith(ACTION);
    if (fromAction && toAction) {
      out.push(...roomImport(ACTION_ROOMS, from, to));
      continue;
    }
    if (toAction) {
      out.push(`${from} imports ${to}: the exchanger never imports the Action`);
      continue;
    }
    const target = layerOf(to);
    if (fromAction) {
      if (target !== core)
        out.push(`${from} imports ${to}: the Action bundles only the exchanger's ${ACTION_MAY_IMPORT} layer`);
      continue;
    }
    const source = layerOf(from);
    if (source >= 0 && target > source) {
      out.push(
        `${from} (${LAYERS[source]!.name}) imports ${to} (${LAYERS[target]!.name}): a lower layer must not import a higher one`,
      );
    }
    if (from.startsWith(POLICY) && to.startsWith(POLICY)) out.push(...roomImport(POLICY_ROOMS, from, to));
  }
  // Between folders (e.g. github/ ↔ providers/), even within one layer; and between files.
  out.push(
    ...cycles(
      imports.map((i) => [folderOf(i.from), folderOf(i.to)]),
      'folders',
    ),
  );
  out.push(
    ...cycles(
      imports.map((i) => [i.from, i.to]),
      'files',
    ),
  );
  return out;
}

/** Pairs joined by an edge that import each other, directly or round a longer circle. */
function cycles(pairs: [string, string][], what: string): string[] {
  const edges = new Map<string, Set<string>>();
  for (const [a, b] of pairs) {
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
  }
  const out: string[] = [];
  const reaches = (start: string, goal: string): boolean => {
    const seen = new Set<string>();
    const stack = [...(edges.get(start) ?? [])];
    while (stack.length) {
      const next = stack.pop()!;
      if (next === goal) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(edges.get(next) ?? []));
    }
    return false;
  };
  for (const [a, targets] of edges) {
    for (const b of targets) {
      if (a < b && reaches(b, a)) out.push(`${what} ${a} and ${b} import each other (a cycle)`);
    }
  }
  return out;
}

/** A lease's end and a run's completion are use-cases (leases/); the HTTP layer only calls them. */
const USE_CASE_WRITES = ['endLease(', '.completeRun(', '.markRevoked('];

function useCaseWrites(file: string, source: string): string[] {
  return USE_CASE_WRITES.filter((call) => source.includes(call)).map((call) => `${file}: ${call}`);
}

/** Choosing which providers run is wiring: a file below `dir` importing two providers does it. */
function wiringIn(dir: string, imports: Import[]): string[] {
  const providers = ['aws', 'gcp', 'github', 'kubernetes'];
  const chosen = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    const name = /^exchanger\/providers\/([a-z]+)\.ts$/.exec(to)?.[1];
    if (!from.startsWith(dir) || !name || !providers.includes(name)) continue;
    chosen.set(from, (chosen.get(from) ?? new Set()).add(name));
  }
  return [...chosen]
    .filter(([, names]) => names.size > 1)
    .map(
      ([from, names]) => `${from} chooses among providers (${[...names].join(', ')}): wiring belongs in cli/`,
    );
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Relative imports of one file, resolved to repository paths (`.js` specifiers name `.ts` sources). */
function importsOf(file: string, source: string): Import[] {
  const out: Import[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec?.startsWith('.')) continue;
    const to = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push({ from: file, to });
  }
  return out;
}

function sources(dir: string): string[] {
  const root = REPO_ROOT;
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(relative(root, path).split('\\').join('/'));
    }
  };
  walk(join(root, dir));
  return out;
}

describe('architecture', () => {
  const files = [...sources('exchanger'), ...sources('src')];
  const imports = files.flatMap((f) => importsOf(f, readFileSync(join(REPO_ROOT, f), 'utf8')));

  it('reads the imports it judges', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(imports).toContainEqual({
      from: 'exchanger/server/app.ts',
      to: 'exchanger/exchange/exchange.ts',
    });
    expect(imports).toContainEqual({ from: 'src/main/run.ts', to: 'src/client/exchanger.ts' });
    // a dynamic import counts too
    expect(imports).toContainEqual({
      from: 'exchanger/cli/providers-from-env.ts',
      to: 'exchanger/providers/gcp.ts',
    });
  });

  it('keeps use-cases out of server/ and wiring out of providers/', () => {
    // Where docs/architecture.md puts them: a lease's end beside the exchange, wiring in cli/.
    for (const room of [
      'exchanger/leases/revoke.ts',
      'exchanger/leases/end-run.ts',
      'exchanger/cli/providers-from-env.ts',
    ])
      expect(files).toContain(room);
    const server = files.filter((f) => f.startsWith('exchanger/server/'));
    expect(server.length).toBeGreaterThan(5);
    expect(server.flatMap((f) => useCaseWrites(f, readFileSync(join(REPO_ROOT, f), 'utf8')))).toEqual([]);
    expect(wiringIn('exchanger/providers/', imports)).toEqual([]);
  });

  it('finds use-case writes in an HTTP file and wiring in providers/', () => {
    expect(
      useCaseWrites('exchanger/server/x.ts', 'await endLease(deps, lease, end);\nstore.completeRun(run)'),
    ).toEqual(['exchanger/server/x.ts: endLease(', 'exchanger/server/x.ts: .completeRun(']);
    expect(
      wiringIn('exchanger/providers/', [
        { from: 'exchanger/providers/pick.ts', to: 'exchanger/providers/aws.ts' },
        { from: 'exchanger/providers/pick.ts', to: 'exchanger/providers/gcp.ts' },
      ]),
    ).toEqual(['exchanger/providers/pick.ts chooses among providers (aws, gcp): wiring belongs in cli/']);
  });

  it('every import runs downwards, without folder cycles', () => {
    expect(violations(imports, files)).toEqual([]);
  });

  it.each([
    {
      name: 'a lower layer importing a higher one',
      imports: [{ from: 'exchanger/store/sqlite.ts', to: 'exchanger/server/http.ts' }],
      says: /store\/sqlite.ts \(domain\) imports exchanger\/server\/http.ts \(http\)/,
    },
    {
      name: 'the use-case importing the HTTP layer',
      imports: [{ from: 'exchanger/exchange/exchange.ts', to: 'exchanger/server/metrics.ts' }],
      says: /a lower layer must not import a higher one/,
    },
    {
      name: 'the Action importing more than the core',
      imports: [{ from: 'src/inputs.ts', to: 'exchanger/policy/validate/read.ts' }],
      says: /the Action bundles only/,
    },
    {
      name: 'the Action importing the exchanger beyond its core',
      imports: [{ from: 'src/transport/http.ts', to: 'exchanger/server/http.ts' }],
      says: /the Action bundles only the exchanger's core layer/,
    },
    {
      name: "the Action's transport importing a step",
      imports: [{ from: 'src/transport/http.ts', to: 'src/main/run.ts' }],
      says: /src\/transport\/http.ts \(transport\) imports src\/main\/run.ts \(steps\): a lower room/,
    },
    {
      name: 'the post step importing the main step',
      imports: [{ from: 'src/post/run.ts', to: 'src/main/inputs.ts' }],
      says: /the steps do not import each other/,
    },
    {
      name: 'the exchanger importing the Action',
      imports: [{ from: 'exchanger/cli/main.ts', to: 'src/inputs.ts' }],
      says: /never imports the Action/,
    },
    {
      name: 'a lower policy room importing a higher one',
      imports: [{ from: 'exchanger/policy/validate/org-checks.ts', to: 'exchanger/policy/lint/lint.ts' }],
      says: /org-checks.ts \(policy checks \(evaluate, validate\)\) imports exchanger\/policy\/lint\/lint.ts \(policy tools \(lint, fixtures\)\): a lower room/,
    },
    {
      name: 'evaluation importing validation',
      imports: [
        { from: 'exchanger/policy/evaluate/evaluate.ts', to: 'exchanger/policy/validate/role-issuers.ts' },
      ],
      says: /the policy checks \(evaluate, validate\) do not import each other/,
    },
    {
      name: 'a file cycle within one folder',
      imports: [
        { from: 'exchanger/policy/load/compile.ts', to: 'exchanger/policy/load/directory.ts' },
        { from: 'exchanger/policy/load/directory.ts', to: 'exchanger/policy/load/snapshot.ts' },
        { from: 'exchanger/policy/load/snapshot.ts', to: 'exchanger/policy/load/compile.ts' },
      ],
      says: /files exchanger\/policy\/load\/compile.ts and exchanger\/policy\/load\/directory.ts import each other/,
    },
    {
      name: 'a folder cycle within one layer',
      imports: [
        { from: 'exchanger/github/app.ts', to: 'exchanger/audit/format.ts' },
        { from: 'exchanger/audit/format.ts', to: 'exchanger/github/app.ts' },
      ],
      says: /import each other/,
    },
  ])('fails on $name', ({ imports: bad, says }) => {
    const found = violations(bad, [...new Set(bad.flatMap((i) => [i.from, i.to]))]);
    expect(found.join('\n')).toMatch(says);
  });

  it('fails on a file in no layer', () => {
    expect(violations([], ['exchanger/newfolder/x.ts'])).toEqual([
      'exchanger/newfolder/x.ts belongs to no layer: add it to LAYERS',
    ]);
    expect(violations([], ['src/x.ts'])).toEqual(['src/x.ts belongs to no room: add it to ACTION_ROOMS']);
    expect(violations([], ['exchanger/policy/x.ts'])).toEqual([
      'exchanger/policy/x.ts belongs to no room: add it to POLICY_ROOMS',
    ]);
  });

  it('parses static, re-export, type-only and dynamic imports', () => {
    const src = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      "export { c } from './c.js';",
      'import {\n  d,\n  e,\n} from "./d.js";',
      "const f = await import('./f.js');",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    expect(importsOf('exchanger/x/y.ts', src).map((i) => i.to)).toEqual([
      'exchanger/x/a.ts',
      'exchanger/b/b.ts',
      'exchanger/x/c.ts',
      'exchanger/x/d.ts',
      'exchanger/x/f.ts',
    ]);
  });
});
