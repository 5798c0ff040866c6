import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One folder of generated seed audio for every system of the run (the catalog seed keeps
 * files already in place), removed at the end.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'music-faults-media-'));
  process.env.FAULTS_MEDIA_DIR = dir;
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
