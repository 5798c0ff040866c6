import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** A configured path as an absolute one: relative paths are taken from the repository root. */
export function repoPath(path: string): string {
  return resolve(REPO_ROOT, path);
}
