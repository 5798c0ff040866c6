/**
 * ReplayGain in the players (the web player, the terminal client's): how loud to play a track
 * so tracks (or albums) sound alike, in one place.
 *
 * The gain applied is the tags' gain, lowered where it would lift the track's peak above full
 * scale, so it never clips. An `<audio>` element's volume cannot go above 1, so the web player
 * applies only attenuation (`gainFactor`); a player with a volume filter applies it all.
 */
import type { ReplayGain } from './catalog.js';

export const GAIN_MODES = ['off', 'track', 'album'] as const;
export type GainMode = (typeof GAIN_MODES)[number];

/** The gain to apply in dB (the album's or the track's, the other standing in), or undefined. */
export function gainDb(gain: ReplayGain | undefined, mode: GainMode): number | undefined {
  if (!gain || mode === 'off') return undefined;
  const dB = mode === 'album' ? (gain.albumGain ?? gain.trackGain) : (gain.trackGain ?? gain.albumGain);
  const peak = mode === 'album' ? (gain.albumPeak ?? gain.trackPeak) : (gain.trackPeak ?? gain.albumPeak);
  if (dB === undefined || !Number.isFinite(dB)) return undefined;
  // The peak after the gain stays at or under full scale.
  return peak !== undefined && peak > 0 ? Math.min(dB, -20 * Math.log10(peak)) : dB;
}

/** The factor the listener's volume is multiplied by for a track (1 when nothing applies). */
export function gainFactor(gain: ReplayGain | undefined, mode: GainMode): number {
  const dB = gainDb(gain, mode);
  return dB === undefined ? 1 : Math.min(1, Math.max(0, 10 ** (dB / 20)));
}

/**
 * Gains beyond ±60 dB and peaks beyond 10 (+20 dBFS) are damaged tags, not loudness (the same
 * bounds are the `tracks` columns' CHECKs, services/catalog/migrations/006_replay_gain.sql).
 */
export const GAIN_DB_MAX = 60;
export const PEAK_MAX = 10;

/**
 * A ReplayGain kept only as far as it is numbers in range: read from tags at import, or from
 * storage (which can hold anything).
 */
export function cleanGain(value: unknown): ReplayGain | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const out: ReplayGain = {};
  for (const key of ['trackGain', 'albumGain'] as const) {
    const n = v[key];
    if (typeof n === 'number' && Math.abs(n) <= GAIN_DB_MAX) out[key] = n;
  }
  for (const key of ['trackPeak', 'albumPeak'] as const) {
    const n = v[key];
    if (typeof n === 'number' && n > 0 && n <= PEAK_MAX) out[key] = n;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
