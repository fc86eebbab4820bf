#!/usr/bin/env node
/**
 * The single-file client (`npm run build:client` → dist-client/jitkey-credentials.js): only
 * `jitkey credentials`, for CI jobs that have Node but not this package. Same flags and exit codes.
 */
import { UsageError } from './args.js';
import { credentialsCommand } from './credentials.js';

credentialsCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`jitkey credentials: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
