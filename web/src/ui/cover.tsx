import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { albumColor, coverDataUrl, knownColor } from './cover-art.js';

interface Props {
  title: string;
  /** The album's colour when known; otherwise it is looked up by `albumId`. */
  color?: string;
  albumId?: string;
  size: number;
  /** Decorative where the album's name is written next to it. */
  decorative?: boolean;
}

export function Cover({ title, color, albumId, size, decorative = false }: Props): JSX.Element {
  const [looked, setLooked] = useState(albumId ? knownColor(albumId) : undefined);
  useEffect(() => {
    if (color || !albumId) return;
    let live = true;
    void albumColor(albumId).then((c) => live && setLooked(c));
    return () => {
      live = false;
    };
  }, [color, albumId]);
  return (
    <img
      class="cover"
      src={coverDataUrl(title, color ?? looked)}
      alt={decorative ? '' : `Cover of ${title}`}
      width={size}
      height={size}
    />
  );
}
