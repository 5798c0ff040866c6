import { ErrorCodes, NotFoundError } from '../../common/errors.js';
import { AudioFileError, sendAudioFile } from '../audio.js';
import { HttpError } from '../errors.js';
import type { RouteContext } from './context.js';

/** Audio bytes of a track, from the file the catalog names (see `sendAudioFile` for the HTTP side). */
export function streamRoutes({ router, services, log }: RouteContext): void {
  router.get('/api/tracks/:id/stream', async (req, res) => {
    const id = req.params.id;
    const file = await services.catalog.call('getTrackFile', { id }, { caller: res.locals.caller });
    try {
      await sendAudioFile(res, file.path, file.mimeType);
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
