import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { TrackFile } from '../common/contracts/index.js';
import { UnauthorizedError } from '../common/index.js';
import { type StreamOptions, TranscodeFailedError, type Transcoder } from './transcode.js';

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

export interface TrackAudio {
  req: Request;
  res: Response;
  file: TrackFile;
  options: StreamOptions;
  transcoder: Transcoder;
  log: Logger;
  /** Who listens (a user id): a transcode needs one, and each gets a share of the transcoders. */
  listener: string | undefined;
}

/**
 * Sends a track's audio: transcoded when the options ask for it (see `planStream`), else the
 * file itself with Range support. Where ffmpeg is missing or cannot read the file, the file
 * goes out as it is, with a warning in the log: a player gets audio rather than an error.
 * Rejects with TranscodeBusyError when no transcode may start now, and as `sendAudioFile`.
 */
export async function sendTrackAudio({
  req,
  res,
  file,
  options,
  transcoder,
  log,
  listener,
}: TrackAudio): Promise<void> {
  const plan = transcoder.plan(options, file);
  if (plan.transcode) {
    // ffmpeg is the costliest thing a request can start: only for someone logged in.
    if (listener === undefined) {
      throw new UnauthorizedError(
        'a transcoded stream needs a logged-in user (Authorization: Bearer <token>); the file itself does not',
      );
    }
    if (await transcoder.available()) {
      try {
        await transcoder.stream(req, res, file.path, plan, listener);
        return;
      } catch (err) {
        if (!(err instanceof TranscodeFailedError)) throw err;
        log.warn({ trackId: file.id, detail: err.detail }, 'could not transcode; sending the file as it is');
      }
    } else {
      log.warn(
        { trackId: file.id },
        'transcoding asked for but ffmpeg is not available; sending the file as it is',
      );
    }
  }
  await sendAudioFile(res, file.path, file.mimeType);
}
