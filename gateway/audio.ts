import type { Response } from 'express';

/** Headers describing the file, which must not stay on an error answer. */
const FILE_HEADERS = [
  'Content-Type',
  'Content-Length',
  'Content-Range',
  'Accept-Ranges',
  'ETag',
  'Last-Modified',
  'Cache-Control',
];

interface SendFileError extends Error {
  code?: string;
  status?: number;
  headers?: Record<string, string>;
}

/** Why an audio file could not be sent; the response's file headers are already cleared. */
export class AudioFileError extends Error {
  constructor(
    readonly reason: 'unsatisfiable-range' | 'missing',
    /** For an unsatisfiable range: the Content-Range to send back, naming the file's size. */
    readonly contentRange?: string,
  ) {
    super(reason === 'missing' ? 'the audio file is missing' : 'requested range is not satisfiable');
    this.name = 'AudioFileError';
  }
}

/**
 * Sends an audio file as `mimeType`. `send` (under `res.sendFile`) does the HTTP part: Range
 * (206 with Content-Range, open and suffix ranges, 416), HEAD, ETag/Last-Modified and
 * conditional requests (304). Resolves when sent or when the client went away mid-stream;
 * rejects with AudioFileError for a bad range or a missing file, before any byte went out.
 */
export async function sendAudioFile(res: Response, path: string, mimeType: string): Promise<void> {
  // The caller names the type; `send` keeps a Content-Type that is already set.
  res.set('Content-Type', mimeType);
  try {
    await new Promise<void>((resolve, reject) => {
      res.sendFile(
        path,
        // The path comes from the catalog, not the client, so dot folders on it are fine.
        { dotfiles: 'allow', acceptRanges: true, etag: true, lastModified: true },
        (err?: SendFileError) => (err ? reject(err) : resolve()),
      );
    });
  } catch (raw) {
    const err = raw as SendFileError;
    // The client went away mid-stream (players do on every skip): nothing left to answer.
    if (res.headersSent || err.code === 'ECONNABORTED' || err.code === 'ECONNRESET') return;
    for (const header of FILE_HEADERS) res.removeHeader(header);
    if (err.status === 416) throw new AudioFileError('unsatisfiable-range', err.headers?.['Content-Range']);
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.status === 404)
      throw new AudioFileError('missing');
    throw err;
  }
}
