// Builds web/dist: the softphone (the real SDK included) and the dashboard, each a bundle and a page.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
for (const page of ['softphone', 'dashboard']) {
  await build({
    entryPoints: [`src/${page}.js`], bundle: true, format: 'esm', platform: 'browser',
    target: 'es2020', minify: true, sourcemap: true, outfile: `dist/${page}.js`, logLevel: 'warning',
  });
  copyFileSync(`${page}.html`, `dist/${page}.html`);
}
