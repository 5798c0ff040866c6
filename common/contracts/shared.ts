import { z } from 'zod';

/** Ids are opaque strings; bounded so no one sends a megabyte as an id. */
export const id = z.string().min(1).max(64);
/** Most ids one call takes (by-ids reads, stars, a playlist's additions): every door imports it. */
export const MAX_IDS = 1000;
/** A list of ids in one call, at most `max` of them. */
export const ids = (max = MAX_IDS) => z.array(id).max(max);

/** The windows of play statistics: the last hour, the last day, or all time. */
export const WINDOWS = ['hour', 'day', 'all'] as const;
export type Window = (typeof WINDOWS)[number];
export const windowParam = z.enum(WINDOWS).default('all');

/** The bounds of every page: most items, items when not asked, furthest offset. */
export const PAGE_MAX_LIMIT = 500;
export const PAGE_DEFAULT_LIMIT = 50;
export const PAGE_MAX_OFFSET = 1_000_000;

export const paging = {
  limit: z.number().int().min(1).max(PAGE_MAX_LIMIT).default(PAGE_DEFAULT_LIMIT),
  offset: z.number().int().min(0).max(PAGE_MAX_OFFSET).default(0),
};

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}
