/**
 * ReplayGain in the player: how loud to play a track so tracks (or albums) sound alike.
 *
 * An `<audio>` element's volume cannot go above 1, so only the attenuation a gain asks for is
 * applied; a positive gain (a quiet track) plays at the listener's volume. Attenuating never
 * clips, so peaks only matter for a positive gain, which is where they cap the factor.
 */
import type { ReplayGain } from '../../../common/contracts/catalog.js';

export const GAIN_MODES = ['off', 'track', 'album'] as const;
export type GainMode = (typeof GAIN_MODES)[number];

/** The factor the listener's volume is multiplied by for a track (1 when nothing applies). */
export function gainFactor(gain: ReplayGain | undefined, mode: GainMode): number {
  if (!gain || mode === 'off') return 1;
  const dB = mode === 'album' ? (gain.albumGain ?? gain.trackGain) : (gain.trackGain ?? gain.albumGain);
  const peak = mode === 'album' ? (gain.albumPeak ?? gain.trackPeak) : (gain.trackPeak ?? gain.albumPeak);
  if (dB === undefined || !Number.isFinite(dB)) return 1;
  let factor = 10 ** (dB / 20);
  if (peak !== undefined && peak > 0) factor = Math.min(factor, 1 / peak);
  return Math.min(1, Math.max(0, factor));
}

/** A stored ReplayGain kept only as far as it is numbers in range (storage can hold anything). */
export function cleanGain(value: unknown): ReplayGain | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const out: ReplayGain = {};
  for (const key of ['trackGain', 'albumGain'] as const) {
    const n = v[key];
    if (typeof n === 'number' && Math.abs(n) <= 60) out[key] = n;
  }
  for (const key of ['trackPeak', 'albumPeak'] as const) {
    const n = v[key];
    if (typeof n === 'number' && n > 0 && n <= 10) out[key] = n;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
