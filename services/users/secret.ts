import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Config, isAcceptableSecret, MIN_SECRET_BYTES } from '../../common/config.js';
import { repoPath } from '../../common/paths.js';

/**
 * The secrets that sign session tokens and seal Subsonic credentials: the current one, which
 * signs and seals, and previous ones still accepted while a rotation is under way.
 */
export interface TokenSecrets {
  current: string;
  previous: readonly string[];
}

export class SecretError extends Error {
  override name = 'SecretError';
}

const UNACCEPTABLE = `a token secret must be at least ${MIN_SECRET_BYTES} bytes and not a value printed in the docs`;

/**
 * `TOKEN_SECRET` (and `TOKEN_SECRET_PREVIOUS`) when set; otherwise the secret file, made on
 * first use with a random 32-byte secret, readable by its owner only, and shared by every
 * worker and later start. Its first line is the current secret, any further lines previous
 * ones (`npm run secret -- rotate` writes them).
 */
export async function loadTokenSecrets(
  config: Pick<Config, 'tokenSecret' | 'tokenSecretPrevious' | 'tokenSecretFile'>,
): Promise<TokenSecrets> {
  const fromEnv = config.tokenSecretPrevious ? [config.tokenSecretPrevious] : [];
  for (const value of [config.tokenSecret, ...fromEnv]) {
    if (value && !isAcceptableSecret(value)) throw new SecretError(UNACCEPTABLE);
  }
  if (config.tokenSecret) return { current: config.tokenSecret, previous: fromEnv };
  const file = repoPath(config.tokenSecretFile);
  const lines = await readSecretFile(file).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    await createSecretFile(file, [newSecret()]);
    return readSecretFile(file);
  });
  const [current, ...previous] = lines;
  return { current: current!, previous: [...previous, ...fromEnv] };
}

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
 * Writes a new secret file atomically and only if there is none: workers starting together
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

/** Replaces a secret file's content atomically (rotation); the file must exist. */
export async function replaceSecretFile(file: string, secrets: readonly string[]): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${secrets.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  await rename(tmp, file);
}
