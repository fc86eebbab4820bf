// Prints the ten test files that took longest, from the vitest JSON report named on the command
// line (`--reporter=json --outputFile.json=…`), so a slow suite is seen where it starts.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const SHOWN = 10;
const file = process.argv[2];
if (!file || !existsSync(file)) {
  console.log(`no vitest JSON report at ${file}: the run ended before writing it`);
  process.exit(0);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const rows = report.testResults
  .map((r) => ({
    file: relative(process.cwd(), r.name),
    seconds: (r.endTime - r.startTime) / 1000,
    tests: r.assertionResults.length,
    status: r.status,
  }))
  .sort((a, b) => b.seconds - a.seconds)
  .slice(0, SHOWN);
for (const r of rows) {
  const note = r.status === 'passed' ? '' : `, ${r.status}`;
  console.log(`${r.seconds.toFixed(1).padStart(7)} s  ${r.file} (${r.tests} tests${note})`);
}
