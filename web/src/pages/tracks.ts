/** Plays known by id only (history entries): the track is fetched first. */
import type { Track } from '../../../common/contracts/catalog.js';
import { enc, get } from '../api.js';
import { player } from '../player/controller.js';

export async function playById(trackId: string): Promise<void> {
  const track = await get<Track>(`/api/tracks/${enc(trackId)}`);
  player.playList(track.title, [track], 0);
}
