import { runExecCredential } from './exec-credential.js';
import { runAgent } from './run.js';

/** The one line the agent writes: `{"port":N}` when ready, or `{"error":…}` when it cannot start. */
const line = (value: unknown) => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
  process.stdout.end();
};

if (process.argv[2] === 'exec-credential') {
  // The kubeconfig's exec plugin (refresh: true on a Kubernetes role), not the agent itself.
  void runExecCredential(process.env).then((result) => {
    process.stderr.write(result.stderr);
    process.stdout.write(result.stdout, () => process.exit(result.code));
  });
} else {
  void runAgent({
    stdin: process.stdin,
    ready: (text) => line(JSON.parse(text)),
    exit: (code) => process.exit(code),
  }).catch((e: unknown) => {
    // Messages here name a missing field or a bind failure, never a configuration value.
    line({ error: e instanceof Error ? e.message : String(e) });
    process.exitCode = 1;
  });
}
