/** Every track, a page at a time; and playing a track known by its id only. */
import type { JSX } from 'preact';
import type { Track } from '../../../common/contracts/index.js';
import { enc, get, path } from '../api.js';
import { player } from '../player/controller.js';
import { ShowMore } from '../ui/show-more.js';
import { Status, Title } from '../ui/title.js';
import { TrackList } from '../ui/track-list.js';
import { usePages } from '../use-pages.js';

/** Tracks read at a time ("Show more" reads the next ones). */
const PAGE = 200;

export function TracksPage(): JSX.Element {
  const tracks = usePages<Track>(path('/api/tracks', { limit: PAGE }));
  return (
    <>
      <Title text="Tracks" />
      {tracks.loaded ? <TrackList tracks={tracks.items} label="Tracks" /> : <Status error={tracks.error} />}
      <ShowMore pages={tracks} />
    </>
  );
}

/** Plays known by id only (history entries): the track is fetched first. */
export async function playById(trackId: string): Promise<void> {
  const track = await get<Track>(`/api/tracks/${enc(trackId)}`);
  player.playList(track.title, [track], 0);
}
