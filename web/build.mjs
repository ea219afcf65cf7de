// Builds web/dist: the softphone bundle (the real SDK included) and its page.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: ['src/softphone.js'], bundle: true, format: 'esm', platform: 'browser',
  target: 'es2020', minify: true, sourcemap: true, outfile: 'dist/softphone.js', logLevel: 'warning',
});
copyFileSync('softphone.html', 'dist/softphone.html');
