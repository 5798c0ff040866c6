/**
 * Answers that are the same for every caller and cost a query each (the top tracks of the last
 * hour or day), shared for at most `maxAgeMs`: an answer younger than that is served at once,
 * and once it is older than half of it the next caller starts one computation in the
 * background (never two at once for a key) and is still served the one kept. A caller waits
 * only when no answer young enough is kept. So such an answer costs the database one query
 * per key about every `maxAgeMs / 2` however many ask, and is never older than `maxAgeMs`.
 * `maxAgeMs` 0 computes every answer.
 *
 * Keys are few and fixed by the caller (a window and a limit), so the map stays small; a
 * failed computation is not kept, and the next caller tries again.
 */
export class SharedAnswers<K, V> {
  private readonly kept = new Map<K, { value: V; at: number }>();
  private readonly computing = new Map<K, Promise<V>>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: K, compute: () => Promise<V>): Promise<V> {
    if (this.maxAgeMs <= 0) return compute();
    const kept = this.kept.get(key);
    const age = kept ? this.now() - kept.at : Number.POSITIVE_INFINITY;
    if (age < this.maxAgeMs) {
      if (age >= this.maxAgeMs / 2) this.refresh(key, compute).catch(() => {});
      return Promise.resolve(kept!.value);
    }
    return this.refresh(key, compute);
  }

  private refresh(key: K, compute: () => Promise<V>): Promise<V> {
    let pending = this.computing.get(key);
    if (!pending) {
      const started = this.now();
      pending = compute()
        .then((value) => {
          // Its age counts from when it was asked, not from when it came.
          this.kept.set(key, { value, at: started });
          return value;
        })
        .finally(() => this.computing.delete(key));
      this.computing.set(key, pending);
    }
    return pending;
  }
}
