import { chmodSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, closeSync, fsyncSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Ensures a private directory (0700) exists. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Writes a secret file atomically with mode 0600 inside a 0700 directory. */
export function writeSecretFile(file: string, content: string): void {
  ensurePrivateDir(dirname(file));
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function readTextIfExists(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Makes a SQLite file private (0600) before it is opened: created 0600 when absent, and an older
 * 0644 file and its -wal/-shm tightened. SQLite gives the -wal and -shm it creates the database's
 * own mode, so they follow (S63). `:memory:` is left alone.
 */
export function ensurePrivateDatabaseFile(file: string): string {
  if (file === ':memory:' || file === '') return file;
  closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(path)) chmodSync(path, 0o600);
  return file;
}
