/**
 * Builds the web player into web/dist (`npm run build:web`), which the gateway serves at `/`
 * (gateway/web.ts). Preact's JSX through esbuild; every asset is bundled (no CDN, no web font).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  publicDir: 'public',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Hashed names under /assets/: the gateway serves them as immutable.
    assetsDir: 'assets',
    target: 'es2022',
    // No source maps: served, they would hand anyone the player's sources as written.
    sourcemap: false,
    // Small SVGs and fonts stay files, never data: URLs the page's CSP would have to allow.
    assetsInlineLimit: 0,
    // Two pages: the player (index.html) and what a share link opens (share.html, /s/<token>).
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL('index.html', import.meta.url)),
        share: fileURLToPath(new URL('share.html', import.meta.url)),
      },
    },
  },
  logLevel: 'warn',
});
