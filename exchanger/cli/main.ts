#!/usr/bin/env node
/** The `jitkey` command. Subcommands load lazily so `jitkey check` does not pay for the AWS SDK. */
import cluster from 'node:cluster';
import { runCli } from './run.js';

void runCli(process.argv.slice(2)).then((code) => {
  if (code === undefined) return;
  process.exitCode = code;
  // A serve worker that failed to start (a port in use, a store it cannot open) is kept alive by
  // its channel to the primary, which would wait for it forever: it leaves now, and the primary
  // stops the group with the reason already printed.
  if (code !== 0 && cluster.isWorker) process.exit(code);
});
