/**
 * Files only the server's own user may read: the SQLite database with its -wal and -shm files, the
 * generated secret key, and the directories Gatehouse creates for them. They hold password hashes,
 * encrypted secrets and the key that decrypts them, so any other local user able to copy them is an
 * attacker with the whole directory. Modes are set with chmod, not left to the umask (which can only
 * take permissions away, and may be 0 in a container or a service manager).
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` and its missing parents with mode 0700. A directory that exists already keeps its
 * mode: the operator chose it, and it may be shared (/var/lib, /tmp); the files in it are private.
 */
export function makePrivateDir(dir: string): void {
  const target = resolve(dir);
  const first = mkdirSync(target, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return;
  // Every directory made here, from `dir` up to the first one created.
  const top = resolve(first);
  for (let current = target; ; current = dirname(current)) {
    chmodSync(current, PRIVATE_DIR_MODE);
    if (current === top || current === dirname(current)) break;
  }
}

/**
 * Creates `file` (empty) if it does not exist, and sets mode 0600 on it either way: a file made by an
 * earlier version, or by hand, may be readable by everyone.
 */
export function makePrivateFile(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  chmodSync(file, PRIVATE_FILE_MODE);
}

/** Sets mode 0600 on `file` if it exists. */
export function restrictFile(file: string): void {
  if (existsSync(file)) chmodSync(file, PRIVATE_FILE_MODE);
}
