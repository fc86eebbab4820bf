#!/usr/bin/env node
/** The `jitkey` command. Subcommands load lazily so `jitkey check` does not pay for the AWS SDK. */
import { runCli } from './run.js';

void runCli(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code;
});
