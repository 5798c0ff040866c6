import { randomUUID } from 'node:crypto';
import type { z } from 'zod';

/** Every event on the bus: who it is (id), what happened (type), when, and the facts. */
export interface EventEnvelope<T = unknown> {
  id: string;
  type: string;
  occurredAt: string;
  data: T;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks the envelope of a decoded message; returns the problems ("id: ...") or null. Written
 * out by hand rather than with a schema because it runs for every event on the hot path.
 */
export function envelopeProblems(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'envelope: expected an object';
  const e = raw as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof e.id !== 'string' || !UUID.test(e.id)) problems.push('id: expected a uuid');
  if (typeof e.type !== 'string' || e.type.length === 0 || e.type.length > 200) {
    problems.push('type: expected a non-empty string');
  }
  if (
    typeof e.occurredAt !== 'string' ||
    e.occurredAt.length > 40 ||
    Number.isNaN(Date.parse(e.occurredAt))
  ) {
    problems.push('occurredAt: expected an ISO date-time');
  }
  if (!('data' in e)) problems.push('data: missing');
  return problems.length > 0 ? problems.join('; ') : null;
}

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

/** One event type on the bus and the schema of its `data`, declared once and shared by publishers and consumers. */
export interface EventDefinition<T = unknown> {
  /** The routing key, e.g. `track.played`. */
  readonly type: string;
  readonly schema: z.ZodType<T>;
}

export function defineEvent<T>(type: string, schema: z.ZodType<T>): EventDefinition<T> {
  return { type, schema };
}
