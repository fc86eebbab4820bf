import { UsageError } from './args.js';

const HELP = `jitkey — just-in-time cloud credentials for GitHub Actions

usage:
  jitkey serve    --policy FILE|DIR [--port 8080] [--host 127.0.0.1] [--store URL] [--workers N]
  jitkey check    --policy FILE|DIR
  jitkey explain  --policy FILE|DIR --role NAME (--claims FILE.json | --token JWT) [--json]
  jitkey test     --policy FILE|DIR [--reporter tap|junit] [--output FILE] [FIXTURE…]
  jitkey audit    [--store URL] [--since 1h] [--repository R] [--outcome allowed|denied] [--role NAME] [--limit N] [--json]
  jitkey export   [--store URL] [--format ocsf|cloudevents] [--to stdout|file:PATH|https://…] [--follow]
  jitkey requests --url URL
  jitkey approve  ID --url URL [--reason TEXT]
  jitkey deny     ID --url URL --reason TEXT
  jitkey acknowledge ID --url URL   (a break-glass use's retro review)
  jitkey credentials --url URL --role NAME (--token-env VAR | --token-file FILE) [--format export|dotenv|…]
  jitkey credentials revoke --lease-file FILE   (a job in any CI: docs/ci-systems.md)

--policy DIR: org.yaml plus one <team>.yaml per team (docs/org-policy.md)
--store: sqlite:PATH (default sqlite:./jitkey.db) or postgres://…
`;

type Command = (argv: string[]) => Promise<number | undefined>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => {
    const { serve } = await import('./serve.js');
    return async (argv) => {
      await serve(argv);
      return undefined; // keeps running
    };
  },
  check: async () => (await import('./check.js')).check,
  explain: async () => (await import('./explain.js')).explainCommand,
  test: async () => (await import('./test.js')).testCommand,
  audit: async () => (await import('./audit.js')).audit,
  export: async () => (await import('./export.js')).exportCommand,
  requests: async () => (await import('./requests.js')).requests,
  approve: async () => (await import('./approve.js')).approveCommand,
  deny: async () => (await import('./approve.js')).denyCommand,
  acknowledge: async () => (await import('./approve.js')).acknowledgeCommand,
  credentials: async () => (await import('./credentials.js')).credentialsCommand,
};

/** Returns the exit code, or undefined for a command that keeps the process running. */
export async function runCli(argv: string[]): Promise<number | undefined> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`jitkey: unknown command '${name}'\n\n${HELP}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`jitkey ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`jitkey ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
