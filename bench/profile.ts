/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, or `BENCH_CPU_PROF=DIR npm run bench`):
 * self time by function and by package/module, the hot spots first.
 *
 *   node lib/bench/profile.js DIR/CPU.*.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (!url) return '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const lib = /\/lib\/(exchanger\/[^/]+|bench|test\/support)\//.exec(url);
  if (lib) return lib[1]!;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/([^/]+).*/, 'node:$1');
  return url.replace(/^.*\//, '');
}

export function summarizeProfile(path: string, top = 25): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = `${functionName || '(anonymous)'} ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byModule.set(where(url), (byModule.get(where(url)) ?? 0) + us);
  }
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`)
      .join('\n');
  return `${(total / 1e6).toFixed(1)} s sampled\n\nby module:\n${list(byModule)}\n\nby function (self):\n${list(byFunction)}\n`;
}

if (process.argv[1]?.endsWith('profile.js')) {
  const [path, top] = process.argv.slice(2);
  if (!path) {
    process.stderr.write('usage: node lib/bench/profile.js FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  process.stdout.write(summarizeProfile(path, top ? Number(top) : 25));
}
