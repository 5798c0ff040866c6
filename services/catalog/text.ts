/**
 * Search text normalisation. Done here rather than with PostgreSQL's `unaccent`, which only a
 * superuser can install: stored and queried text go through the same function, so "Zoe"
 * finds "Zoë" and "ÓLAFUR" finds "Ólafur".
 */

/** Letters that carry no combining mark in Unicode, so NFKD alone leaves them alone. */
const FOLDS: Record<string, string> = {
  ø: 'o',
  æ: 'ae',
  œ: 'oe',
  ß: 'ss',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
};
const FOLDABLE = new RegExp(`[${Object.keys(FOLDS).join('')}]`, 'g');

/** Lower-case, accent-free, single-spaced text. */
export function normalizeText(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(FOLDABLE, (c) => FOLDS[c] ?? c)
    .replace(/\s+/g, ' ')
    .trim();
}

/** The words of a normalised query (letters and digits only: safe inside a tsquery). */
export function searchTokens(normalized: string): string[] {
  return normalized.split(/[^\p{L}\p{N}]+/u).filter((t) => t.length > 0);
}

/** Escapes LIKE's wildcards so `%` and `_` in a query match themselves. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}

/** A file-system friendly name: "Zoë & the Nightjars" -> "zoe-the-nightjars". */
export function slug(text: string): string {
  return (
    normalizeText(text)
      .replace(/[^\p{L}\p{N}]+/gu, '-')
      .replace(/^-+|-+$/g, '') || 'untitled'
  );
}

/** Genres are compared and listed lower-case, so "Rock" and "rock" are one genre. */
export function normalizeGenre(genre: string | null): string | null {
  const g = genre?.trim().toLowerCase();
  return g ? g : null;
}
