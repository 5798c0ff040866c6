import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The systems run the compiled code (scripts/run.sh, as start.sh does): dist/ is built here
 * once when stale, so no test's timing includes a build. One folder of generated seed audio
 * serves every system of the run (the catalog seed keeps files already in place), removed at
 * the end.
 */
export default async function setup(): Promise<() => Promise<void>> {
  execFileSync(join(ROOT, 'scripts/build.sh'), ['server'], { stdio: 'inherit' });
  const dir = await mkdtemp(join(tmpdir(), 'music-faults-media-'));
  process.env.FAULTS_MEDIA_DIR = dir;
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
