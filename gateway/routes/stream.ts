import type { Response } from 'express';
import type { Logger } from 'pino';
import type { TrackFile } from '../../common/contracts/index.js';
import { ErrorCodes, NotFoundError, TRANSCODE_FORMATS } from '../../common/index.js';
import { AudioFileError, sendTrackAudio } from '../audio.js';
import { forClient } from '../auth.js';
import { HttpError } from '../errors.js';
import { queryEnum, queryInt } from '../http.js';
import type { RouteContext } from './context.js';

const FORMATS = ['raw', ...TRANSCODE_FORMATS] as const;

/**
 * Runs `send` (which sends `file`'s audio) and answers its file faults: a missing file is 404
 * (and a warning), a range outside it 416 with the file's size.
 */
export async function answerAudio(
  res: Response,
  log: Logger,
  file: TrackFile,
  send: () => Promise<void>,
): Promise<void> {
  try {
    await send();
  } catch (err) {
    if (!(err instanceof AudioFileError)) throw err;
    if (err.reason === 'missing') {
      log.warn({ trackId: file.id, path: file.path }, 'audio file missing');
      throw new NotFoundError(`the audio file of track ${file.id} is missing`);
    }
    if (err.contentRange) res.set('Content-Range', err.contentRange);
    throw new HttpError(416, ErrorCodes.INVALID_REQUEST, err.message);
  }
}

/**
 * Audio bytes of a track, from the file the catalog names: the file itself (see
 * `sendAudioFile` for the HTTP side), or with `format`, `bitrate` (kbit/s) and `offset` (s)
 * a transcode (see `planStream`).
 */
export function streamRoutes({ router, services, log, transcoder }: RouteContext): void {
  router.get('/api/tracks/:id/stream', async (req, res) => {
    const id = req.params.id;
    const options = {
      format: queryEnum(req, 'format', FORMATS),
      maxKbps: queryInt(req, 'bitrate', 0, 10_000),
      offsetS: queryInt(req, 'offset', 0, 86_400),
    };
    const file = await services.catalog.call('getTrackFile', { id }, forClient(req, res));
    const listener = res.locals.caller?.userId;
    await answerAudio(res, log, file, () =>
      sendTrackAudio({ req, res, file, options, transcoder, log, listener }),
    );
  });
}
