/**
 * The stream sinks: standard output, and a file appended to.
 *
 * A file batch is written, then flushed to disk (`fdatasync`), before it counts as taken; the
 * state saved with the cursor is the file's identity (device, inode, and a digest of its last
 * bytes) and its size after that batch. On resume, a file that is still the same one and longer
 * than that size holds a batch written whose cursor move never happened (the process died
 * between the two): it is cut back, and the batch is written again, once. A file rotated away
 * (another inode, or a reused inode with other bytes at that place) is left alone. A file rotated
 * away while the sink runs (logrotate's rename-and-create, or a delete) is noticed before each
 * batch: the path is opened again, and the batch goes to the file there now.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { jsonLines, type Sink, SinkError } from './sink.js';

/** Standard output (or any stream): a batch is taken once the stream has accepted it. */
export function streamSink(out: Writable, name = 'stdout'): Sink {
  return {
    name,
    resume: async () => {},
    send: (events) =>
      new Promise<undefined>((resolve, reject) => {
        if (events.length === 0) return resolve(undefined);
        const fail = (err: Error) =>
          reject(new SinkError(`${name}: ${err.message}`, { permanent: true, cause: err }));
        out.once('error', fail);
        const done = () => {
          out.off('error', fail);
          resolve(undefined);
        };
        if (out.write(jsonLines(events))) done();
        else out.once('drain', done);
      }),
    close: async () => {},
  };
}

interface FileState {
  dev: number;
  ino: number;
  size: number;
  /** SHA-256 of the bytes just before `size`: an inode number reused by a new file does not match. */
  tail: string;
}

const TAIL_BYTES = 256;

function parseState(state: string | undefined): FileState | undefined {
  const m = state && /^file:(\d+):(\d+):(\d+):([0-9a-f]{64})$/.exec(state);
  return m ? { dev: Number(m[1]), ino: Number(m[2]), size: Number(m[3]), tail: m[4]! } : undefined;
}

async function tailDigest(handle: FileHandle, size: number): Promise<string> {
  const length = Math.min(size, TAIL_BYTES);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, size - length);
  return createHash('sha256').update(buffer.subarray(0, bytesRead)).digest('hex');
}

/** A file opened for appending (created owner-only: the audit trail is not for every user). */
export async function fileSink(path: string): Promise<Sink> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'a+', 0o600);
  } catch (err) {
    throw new Error(`cannot open the export file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const name = `file:${path}`;
  // Where the last batch taken ends: a failed write's part past it is cut before the retry.
  let end = (await handle.stat()).size;
  const cutTo = async (size: number) => {
    if ((await handle.stat()).size <= size) return;
    await handle.truncate(size);
    await handle.datasync();
  };
  /** Opens the path again when it names another file than the one held (or none). */
  const followRotation = async () => {
    const held = await handle.stat();
    const there = await stat(path).catch(() => undefined);
    if (there && there.dev === held.dev && there.ino === held.ino) return;
    // A batch that failed part-way is cut from the file it was going to, before it goes elsewhere.
    await cutTo(end).catch(() => {});
    const next = await open(path, 'a+', 0o600);
    await handle.close().catch(() => {});
    handle = next;
    end = (await handle.stat()).size;
  };
  return {
    name,
    async resume(state) {
      const saved = parseState(state);
      const now = await handle.stat();
      const same =
        saved &&
        now.dev === saved.dev &&
        now.ino === saved.ino &&
        now.size > saved.size &&
        (await tailDigest(handle, saved.size)) === saved.tail;
      if (saved && same) await cutTo(saved.size);
      end = (await handle.stat()).size;
    },
    async send(events) {
      try {
        await followRotation();
        await cutTo(end);
        if (events.length) await handle.appendFile(jsonLines(events));
        await handle.datasync();
        const { dev, ino, size } = await handle.stat();
        end = size;
        return `file:${dev}:${ino}:${size}:${await tailDigest(handle, size)}`;
      } catch (err) {
        // A full disk may clear: the batch is written again, from where the last one ended.
        throw new SinkError(`${name}: ${(err as Error).message}`, { cause: err });
      }
    },
    close: () => handle.close(),
  };
}
