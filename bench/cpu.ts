import { readdirSync, readFileSync } from 'node:fs';
import type { Pool } from '../common/index.js';
import { median, round } from './lib.js';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** CPU time (user + system) a process has used so far, in ms; null when it is gone. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after it are space-separated.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
  } catch {
    return null;
  }
}

/** CPU time the whole machine has spent busy so far (all cores), in ms. */
export function machineBusyMs(): number {
  const fields = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1000) / TICKS_PER_S;
}

/** Pids of processes whose command name is `comm` (e.g. RabbitMQ's `beam.smp`). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** PostgreSQL backends serving `database` right now. */
export async function backendPids(db: Pool, database: string): Promise<number[]> {
  const { rows } = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
  return rows.map((r) => r.pid);
}

/**
 * CPU used by groups of processes over a stretch of time: `start` reads every group's
 * counters, `stop` reads them again (groups are re-resolved, so processes that appear in
 * between, like new database backends, count from zero) and returns ms per group, plus
 * `other`: what the rest of the machine used meanwhile (other people's work, the kernel).
 */
export class CpuMeter {
  private before = new Map<number, number>();
  private machineBefore = 0;

  constructor(private readonly groups: () => Promise<Record<string, number[]>>) {}

  async start(): Promise<void> {
    this.before = new Map();
    this.machineBefore = machineBusyMs();
    for (const pids of Object.values(await this.groups())) {
      for (const pid of pids) this.before.set(pid, cpuMs(pid) ?? 0);
    }
  }

  async stop(): Promise<Record<string, number>> {
    const used: Record<string, number> = {};
    for (const [group, pids] of Object.entries(await this.groups())) {
      used[group] = [...new Set(pids)].reduce((sum, pid) => {
        const now = cpuMs(pid);
        return now === null ? sum : sum + now - (this.before.get(pid) ?? 0);
      }, 0);
    }
    const ours = Object.values(used).reduce((a, b) => a + b, 0);
    used.other = Math.max(0, machineBusyMs() - this.machineBefore - ours);
    return used;
  }
}

/** CPU ms of each group (a `CpuMeter.stop` result, `other` left out) per request or play. */
export function perUnit(used: Record<string, number>, units: number): Record<string, number> {
  return Object.fromEntries(Object.entries(used).map(([k, ms]) => [k, round(ms / Math.max(1, units), 3)]));
}

/** Each group's median over runs: `keys`, or those of the first run. */
export function medianCpu(
  runs: ReadonlyArray<{ cpu: Record<string, number> }>,
  keys: readonly string[] = Object.keys(runs[0]?.cpu ?? {}),
): Record<string, number> {
  return Object.fromEntries(keys.map((k) => [k, round(median(runs.map((r) => r.cpu[k] ?? 0)), 3)]));
}
