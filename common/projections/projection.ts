import type { PoolClient } from '../db/pool.js';
import type { EventDefinition, EventEnvelope } from '../events/envelope.js';

/** The events of one batch of the log that a projection applies, by type, each in log order. */
export class ProjectionBatch {
  private readonly byType = new Map<string, EventEnvelope[]>();
  private readonly atCommitSql: string[] = [];

  constructor(readonly events: readonly EventEnvelope[]) {
    for (const e of events) {
      const list = this.byType.get(e.type);
      if (list) list.push(e);
      else this.byType.set(e.type, [e]);
    }
  }

  /** The batch's events of one type, with their data as its schema parsed it. */
  of<T>(event: EventDefinition<T>): EventEnvelope<T>[] {
    return (this.byType.get(event.type) ?? []) as EventEnvelope<T>[];
  }

  get size(): number {
    return this.events.length;
  }

  /**
   * Has the runner send `sql` (one statement, its values inlined and escaped) in the round
   * trip of the batch's COMMIT. For rows that other partitions' leaders write too (a track's
   * plays, a minute's): a row lock taken there is held only while the statement and the
   * commit run, not across a round trip to the database, so leaders wait for each other far
   * less. Statements run in the order they were given, after everything `apply` ran.
   */
  atCommit(sql: string): void {
    this.atCommitSql.push(sql);
  }

  /** What `atCommit` was given. */
  get commitStatements(): readonly string[] {
    return this.atCommitSql;
  }
}

/**
 * A view built from the event log. It declares the events it applies, the tables it owns (a
 * replay builds them afresh in a schema of their own and swaps them in) and the migrations
 * that create them, and applies a batch of events inside a transaction the runner owns: the
 * runner stores how far in the log it got in the same transaction, so every event is applied
 * exactly once, live, after a restart and in a replay alike.
 */
export interface Projection {
  name: string;
  events: readonly EventDefinition<unknown>[];
  /** None: a consumer group with effects of its own, not a view (`npm run replay` refuses it). */
  tables: readonly string[];
  /** The folder of migrations that creates the tables (the service's own). */
  migrations: string;
  /** Applies a batch (effects only) with `tx`, whose search_path is the projection's schema. */
  apply(tx: PoolClient, batch: ProjectionBatch): Promise<void>;
  /** Most events in one transaction (default 500). */
  batchSize?: number;
}

export function defineProjection(projection: Projection): Projection {
  return projection;
}
