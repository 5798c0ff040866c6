/**
 * Prints the system's settings that are set in this environment as shell `export` lines, for
 * start.sh to save with a run (so workers added later share one configuration). The variable
 * names come from common/config.ts, the one place that lists them.
 */
import { configSpec } from '../common/index.js';

/** Single-quoted for the shell: a quote inside becomes '\''. */
const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

for (const { env } of Object.values(configSpec)) {
  const value = process.env[env];
  if (value !== undefined && value !== '') process.stdout.write(`export ${env}=${quote(value)}\n`);
}
