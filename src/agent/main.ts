import { runAgent } from './run.js';

/** The one line the agent writes: `{"port":N}` when ready, or `{"error":…}` when it cannot start. */
const line = (value: unknown) => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
  process.stdout.end();
};

void runAgent({
  stdin: process.stdin,
  ready: (text) => line(JSON.parse(text)),
  exit: (code) => process.exit(code),
}).catch((e: unknown) => {
  // Messages here name a missing field or a bind failure, never a configuration value.
  line({ error: e instanceof Error ? e.message : String(e) });
  process.exitCode = 1;
});
