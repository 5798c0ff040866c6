import { AudioFileError, sendAudioFile, sendTrackAudio } from '../../audio.js';
import { catalogCoverColor, coverId, MAX_COVER_SIZE, NEUTRAL_COLOR, sendCover } from '../../covers.js';
import { type Call, type Deps, type Endpoint, ifFound, SENT } from '../context.js';
import { suffixOf } from '../models.js';
import { SubsonicCodes, SubsonicError } from '../response.js';

/**
 * A stream from the start is a play starting (later ranges and offsets are the same play
 * seeking): it shows as now playing until the player reports anything itself.
 */
async function streamStarted(call: Call, deps: Deps, trackId: string, offsetS: number): Promise<void> {
  const range = call.req.headers.range;
  if ((range && !/^bytes=0-/.test(range)) || offsetS > 0) return;
  try {
    await deps.services.users.call(
      'reportPlayback',
      { trackId, state: 'playing', positionMs: 0, inferred: true, ignoreScrobble: true, client: call.client },
      call.as,
    );
  } catch (err) {
    // Now playing is a passing status: the stream goes on without it.
    deps.log.warn({ err: (err as Error).message, trackId }, 'could not show the stream as now playing');
  }
}

async function audio(call: Call, deps: Deps, download: boolean): Promise<typeof SENT> {
  const { params, req, res } = call;
  const id = params.required('id');
  const { catalog } = deps.services;
  const options = {
    format: params.string('format'),
    maxKbps: params.int('maxBitRate', 0, 100_000),
    offsetS: params.number('timeOffset', 0, 86_400),
  };
  const [file] = await Promise.all([
    catalog.call('getTrackFile', { id }, call.as),
    download ? undefined : streamStarted(call, deps, id, options.offsetS ?? 0),
  ]);
  try {
    if (download) {
      const track = await catalog.call('getTrack', { id });
      res.attachment(`${track.artistName} - ${track.title}.${suffixOf(file.mimeType)}`);
      await sendAudioFile(res, file.path, file.mimeType);
    } else {
      await sendTrackAudio({
        req,
        res,
        file,
        options,
        transcoder: deps.transcoder,
        log: deps.log,
        listener: call.caller.userId,
      });
    }
  } catch (err) {
    if (!(err instanceof AudioFileError)) throw err;
    if (err.reason === 'missing') {
      deps.log.warn({ trackId: id }, 'audio file missing');
      throw new SubsonicError(SubsonicCodes.NOT_FOUND, `the audio file of song ${id} is missing`);
    }
    // A bad range is an HTTP matter, answered as HTTP does.
    res
      .status(416)
      .set('Content-Range', err.contentRange ?? `bytes */${file.sizeBytes}`)
      .end();
  }
  return SENT;
}

/** The colour of the cover `id` names: the catalog's, or a playlist's first song's album's. */
async function coverColor(id: string, call: Call, deps: Deps): Promise<string | undefined> {
  const { catalog, playlists } = deps.services;
  const playlistId = /^pl-(.+)$/.exec(id)?.[1];
  if (!playlistId) return catalogCoverColor(catalog, id);
  const found = await ifFound(playlists.call('get', { id: playlistId, limit: 1 }, call.as));
  const first = found?.tracks[0]?.track.albumId;
  return found && ((first && (await catalogCoverColor(catalog, coverId.album(first)))) || NEUTRAL_COLOR);
}

export const mediaEndpoints: Record<string, Endpoint> = {
  stream: (call, deps) => audio(call, deps, false),

  download: (call, deps) => audio(call, deps, true),

  /** A generated cover: a square PNG in the album's colour (`size` pixels, 300 by default). */
  getCoverArt: async (call, deps) => {
    const id = call.params.required('id');
    const size = call.params.int('size', 1, MAX_COVER_SIZE) ?? 300;
    const color = await coverColor(id, call, deps);
    if (!color) throw new SubsonicError(SubsonicCodes.NOT_FOUND, `no cover art ${id}`);
    await sendCover(call.res, deps.covers, color, size);
    return SENT;
  },
};
