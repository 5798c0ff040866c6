import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
// This module is common/paths.ts when it runs from source (tsx, tests) and dist/common/paths.js
// when compiled (`npm run build`): the code root is its parent folder, the repository one above
// dist. Files that are not code (migrations, web/dist, data) stay where they are in the source
// tree and are found from there, so dist holds compiled code only.
const CODE_ROOT = resolve(dirname(HERE), '..');
const REPO_ROOT = HERE.endsWith('.js') ? resolve(CODE_ROOT, '..') : CODE_ROOT;

/** A configured path as an absolute one: relative paths are taken from the repository root. */
export function repoPath(path: string): string {
  return resolve(REPO_ROOT, path);
}

/**
 * A path next to a module's source file (its `migrations` folder), the same whether the module
 * runs from source or compiled: `sourcePath(import.meta.url, 'migrations')`.
 */
export function sourcePath(moduleUrl: string, path: string): string {
  return resolve(REPO_ROOT, relative(CODE_ROOT, dirname(fileURLToPath(moduleUrl))), path);
}
