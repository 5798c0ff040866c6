import { TRANSCODE_FORMATS } from '../../common/config.js';
import { ErrorCodes, NotFoundError } from '../../common/errors.js';
import { AudioFileError, sendTrackAudio } from '../audio.js';
import { forClient } from '../auth.js';
import { HttpError } from '../errors.js';
import { queryEnum, queryInt } from '../http.js';
import type { RouteContext } from './context.js';

const FORMATS = ['raw', ...TRANSCODE_FORMATS] as const;

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
    try {
      const listener = res.locals.caller?.userId;
      await sendTrackAudio({ req, res, file, options, transcoder, log, listener });
    } catch (err) {
      if (!(err instanceof AudioFileError)) throw err;
      if (err.reason === 'missing') {
        log.warn({ trackId: id, path: file.path }, 'audio file missing');
        throw new NotFoundError(`the audio file of track ${id} is missing`);
      }
      if (err.contentRange) res.set('Content-Range', err.contentRange);
      throw new HttpError(416, ErrorCodes.INVALID_REQUEST, err.message);
    }
  });
}
