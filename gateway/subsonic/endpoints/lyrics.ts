import type { Lyrics } from '../../../common/contracts/index.js';
import type { Endpoint } from '../context.js';
import { missing } from '../response.js';

/** The lyrics as one text, a line per line (synced ones without their times). */
const asText = (lyrics: Lyrics) => lyrics.lines.map((l) => l.text).join('\n');

export const lyricsEndpoints: Record<string, Endpoint> = {
  /**
   * OpenSubsonic `songLyrics`: a song's lyrics, synced lines with their start in ms, and the
   * LRC offset. A song without lyrics has an empty list.
   */
  getLyricsBySongId: async ({ params }, deps) => {
    const id = params.required('id');
    const { catalog } = deps.services;
    const [lyrics, track] = await Promise.all([
      catalog.call('getLyrics', { trackId: id }),
      catalog.call('getTrack', { id }),
    ]);
    const structuredLyrics = lyrics
      ? [
          {
            displayArtist: track.artistName,
            displayTitle: track.title,
            lang: lyrics.lang,
            offset: lyrics.offsetMs,
            synced: lyrics.synced,
            line: lyrics.lines.map((l) =>
              l.startMs === undefined ? { value: l.text } : { start: l.startMs, value: l.text },
            ),
          },
        ]
      : [];
    return { lyricsList: { structuredLyrics } };
  },

  /** Subsonic's own: lyrics by artist and title, as plain text (an empty element when none). */
  getLyrics: async ({ params }, deps) => {
    const artist = params.string('artist')?.trim().slice(0, 200);
    const title = params.string('title')?.trim().slice(0, 200);
    if (!artist) throw missing('artist');
    if (!title) throw missing('title');
    const lyrics = await deps.services.catalog.call('findLyrics', { artist, title });
    return { lyrics: lyrics ? { artist, title, value: asText(lyrics) } : {} };
  },
};
