import { type Config, isAcceptableSecret, MIN_SECRET_BYTES } from './config.js';
import { repoPath } from './paths.js';
import { readOrCreateSecretFile, SecretError } from './secret-file.js';

/**
 * The secrets that sign session tokens and seal stored credentials (Subsonic passwords, the
 * scrobbling services' tokens): the current one, which signs and seals, and previous ones
 * still accepted while a rotation is under way.
 */
export interface TokenSecrets {
  current: string;
  previous: readonly string[];
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
  const lines = await readOrCreateSecretFile(file);
  const [current, ...previous] = lines;
  return { current: current!, previous: [...previous, ...fromEnv] };
}
