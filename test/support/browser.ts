import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's Chromium (scripts/ensure-infra.sh --browser), never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function assertChromium(): void {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: scripts/ensure-infra.sh --browser (run by npm test) installs it`,
    );
}

/**
 * Headless Chromium with a profile folder of its own (`music-<label>-chromium-*` in the temp
 * folder), 1200x800: `close` closes it and removes the folder.
 */
export async function launchChromium(
  label: string,
): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  assertChromium();
  const userDir = await mkdtemp(join(tmpdir(), `music-${label}-chromium-`));
  try {
    const context = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1200, height: 800 },
      timeout: 60_000,
    });
    return {
      context,
      close: async () => {
        await context.close().catch(() => {});
        await rm(userDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(userDir, { recursive: true, force: true });
    throw err;
  }
}
