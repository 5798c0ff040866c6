/**
 * Album covers, drawn here from the colour the catalog gives each album (`coverColor`) and
 * the album's initials: an SVG data URL, used by <img> and by the Media Session artwork.
 */

import type { Album } from '../../../common/contracts/index.js';
import { enc, get } from '../api.js';

const NEUTRAL = '#6b7280';
const colors = new Map<string, string>();
const pending = new Map<string, Promise<string>>();

function safeColor(css: string | undefined): string {
  return css && /^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(css) ? css : NEUTRAL;
}

function initials(title: string): string {
  const words = title.split(/\s+/).filter((w) => /\p{L}|\p{N}/u.test(w));
  const letters = words.slice(0, 2).map((w) => [...w.replace(/[^\p{L}\p{N}]/gu, '')][0] ?? '');
  return letters.join('').toUpperCase() || '♪';
}

const xml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function coverDataUrl(title: string, color: string | undefined): string {
  const fill = safeColor(color);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">` +
    `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">` +
    `<stop offset="0" stop-color="#fff" stop-opacity=".18"/><stop offset="1" stop-color="#000" stop-opacity=".35"/>` +
    `</linearGradient></defs><rect width="100" height="100" fill="${fill}"/><rect width="100" height="100" fill="url(#g)"/>` +
    `<circle cx="74" cy="28" r="34" fill="#fff" fill-opacity=".1"/>` +
    `<text x="9" y="88" font-family="system-ui,sans-serif" font-size="30" font-weight="700" fill="#fff">${xml(initials(title))}</text></svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** Remembers the colours of albums already loaded, so covers of their tracks need no request. */
export function rememberAlbums(albums: readonly Pick<Album, 'id' | 'coverColor'>[]): void {
  for (const a of albums) colors.set(a.id, safeColor(a.coverColor));
}

/** An album's cover colour, asking the gateway once per album. */
export function albumColor(albumId: string): Promise<string> {
  const known = colors.get(albumId);
  if (known) return Promise.resolve(known);
  let load = pending.get(albumId);
  if (!load) {
    load = get<Album>(`/api/albums/${enc(albumId)}`)
      .then((album) => {
        rememberAlbums([album]);
        return safeColor(album.coverColor);
      })
      .catch(() => NEUTRAL)
      .finally(() => pending.delete(albumId));
    pending.set(albumId, load);
  }
  return load;
}

export function knownColor(albumId: string): string | undefined {
  return colors.get(albumId);
}
