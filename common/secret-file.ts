import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isAcceptableSecret, MIN_SECRET_BYTES } from './config.js';

/**
 * Files that keep a generated secret (the token secret, the broker users' secret): made on
 * first use with a random 32-byte value, readable by their owner only, shared by every process
 * and later start.
 */
export class SecretError extends Error {
  override name = 'SecretError';
}

export const UNACCEPTABLE = `a secret must be at least ${MIN_SECRET_BYTES} bytes and not a value printed in the docs`;

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The secrets in a secret file, checked: owner-only permissions, each long enough and not published. */
export async function readSecretFile(file: string): Promise<string[]> {
  const info = await stat(file);
  if ((info.mode & 0o077) !== 0) {
    throw new SecretError(`${file} is readable by others than its owner; run: chmod 600 ${file}`);
  }
  const lines = (await readFile(file, 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (lines.length === 0) throw new SecretError(`${file} holds no secret`);
  for (const line of lines) {
    if (!isAcceptableSecret(line)) throw new SecretError(`${file}: ${UNACCEPTABLE}`);
  }
  return lines;
}

/**
 * Writes a new secret file atomically and only if there is none: processes starting together
 * race to create it, exactly one wins (the hard link fails for the others) and all read it.
 */
export async function createSecretFile(file: string, secrets: readonly string[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${secrets.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** The secret file's lines, the file made first with one new secret when there is none. */
export async function readOrCreateSecretFile(file: string): Promise<string[]> {
  return readSecretFile(file).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    await createSecretFile(file, [newSecret()]);
    return readSecretFile(file);
  });
}

/** Replaces a secret file's content atomically (rotation); the file must exist. */
export async function replaceSecretFile(file: string, secrets: readonly string[]): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${secrets.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  await rename(tmp, file);
}
