import { extname, isAbsolute, resolve } from 'node:path';
import { type Config, repoPath } from '../../common/index.js';

/** The media folder as an absolute path; a relative MEDIA_DIR is taken from the repository root. */
export function mediaRoot(config: Pick<Config, 'mediaDir'>): string {
  return repoPath(config.mediaDir);
}

/**
 * Where a track's audio is. Seeded files are stored relative to the media folder (so the
 * catalog survives moving it); imported files are referenced in place by absolute path.
 */
export function resolveTrackPath(root: string, filePath: string): string {
  return isAbsolute(filePath) ? filePath : resolve(root, filePath);
}

/** Audio formats the catalog imports, by file extension. */
export const AUDIO_TYPES: Readonly<Record<string, string>> = {
  '.mp3': 'audio/mpeg',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.m4a': 'audio/mp4',
  '.wav': 'audio/wav',
};

export function audioType(path: string): string | undefined {
  return AUDIO_TYPES[extname(path).toLowerCase()];
}
