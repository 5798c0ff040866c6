import { AudioFileError, sendAudioFile } from '../../audio.js';
import { type Call, type Deps, type Endpoint, ifFound, SENT } from '../context.js';
import { CoverCache, NEUTRAL_COLOR } from '../cover.js';
import { suffixOf } from '../models.js';
import { SubsonicCodes, SubsonicError } from '../response.js';

async function audio(call: Call, deps: Deps, download: boolean): Promise<typeof SENT> {
  const id = call.params.required('id');
  const { catalog } = deps.services;
  const file = await catalog.call('getTrackFile', { id }, call.as);
  if (download) {
    const track = await catalog.call('getTrack', { id });
    call.res.attachment(`${track.artistName} - ${track.title}.${suffixOf(file.mimeType)}`);
  } else if (!call.req.headers.range || /^bytes=0-/.test(call.req.headers.range)) {
    // A stream from the start is a play starting; later ranges are the same play seeking.
    const track = await catalog.call('getTrack', { id });
    deps.nowPlaying.set(call.caller, call.params.string('c') ?? 'unknown', track);
  }
  try {
    await sendAudioFile(call.res, file.path, file.mimeType);
  } catch (err) {
    if (!(err instanceof AudioFileError)) throw err;
    if (err.reason === 'missing') {
      deps.log.warn({ trackId: id }, 'audio file missing');
      throw new SubsonicError(SubsonicCodes.NOT_FOUND, `the audio file of song ${id} is missing`);
    }
    // A bad range is an HTTP matter, answered as HTTP does.
    call.res
      .status(416)
      .set('Content-Range', err.contentRange ?? `bytes */${file.sizeBytes}`)
      .end();
  }
  return SENT;
}

/** The colour of the cover `id` names: an album's own, or the first album's of an artist or playlist. */
async function coverColor(id: string, call: Call, deps: Deps): Promise<string | undefined> {
  const { catalog, playlists } = deps.services;
  const albumColor = async (albumId: string | undefined) =>
    albumId ? (await ifFound(catalog.call('getAlbum', { id: albumId })))?.coverColor : undefined;
  const [, kind, rest] = /^(al|ar|pl)-(.+)$/.exec(id) ?? [];
  if (kind === 'al') return albumColor(rest);
  if (kind === 'ar') {
    const found = await ifFound(catalog.call('getArtist', { id: rest! }));
    return found && (found.albums[0]?.coverColor ?? NEUTRAL_COLOR);
  }
  if (kind === 'pl') {
    const found = await ifFound(playlists.call('get', { id: rest! }, call.as));
    return found && ((await albumColor(found.tracks[0]?.track.albumId)) ?? NEUTRAL_COLOR);
  }
  // A bare id: players also ask for the cover of an album or a song by its own id.
  return (
    (await albumColor(id)) ?? (await albumColor((await ifFound(catalog.call('getTrack', { id })))?.albumId))
  );
}

export function mediaEndpoints(): Record<string, Endpoint> {
  const covers = new CoverCache();
  return {
    stream: (call, deps) => audio(call, deps, false),

    download: (call, deps) => audio(call, deps, true),

    /** A generated cover: a square PNG in the album's colour (`size` pixels, 300 by default). */
    getCoverArt: async (call, deps) => {
      const id = call.params.required('id');
      const size = call.params.int('size', 1, 1024) ?? 300;
      const color = await coverColor(id, call, deps);
      if (!color) throw new SubsonicError(SubsonicCodes.NOT_FOUND, `no cover art ${id}`);
      // `send` answers a matching If-None-Match with 304.
      call.res
        .type('image/png')
        .set('Cache-Control', 'private, max-age=86400')
        .set('ETag', `"${color.slice(1)}-${size}"`)
        .send(covers.get(color, size));
      return SENT;
    },
  };
}
