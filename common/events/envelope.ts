import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Every event on the bus: who it is (id), what happened (type), when, and the facts. */
export interface EventEnvelope<T = unknown> {
  id: string;
  type: string;
  occurredAt: string;
  data: T;
}

export const envelopeSchema = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(200),
  occurredAt: z.iso.datetime({ offset: true }),
  data: z.unknown(),
});

export function makeEnvelope<T>(type: string, data: T, at: Date = new Date()): EventEnvelope<T> {
  return { id: randomUUID(), type, occurredAt: at.toISOString(), data };
}

/** Routing-key form of an event type in queue names: `track.played` -> `track-played`. */
export function eventSlug(type: string): string {
  return type.replace(/\./g, '-');
}

/** The durable queue of one consumer group for one event type: `history.track-played`. */
export function eventQueue(group: string, type: string): string {
  return `${group}.${eventSlug(type)}`;
}

export const EVENTS_EXCHANGE = 'music.events';
