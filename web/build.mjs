// Builds web/dist: the softphone (the real SDK included) and the dashboard, each a bundle and a
// page; the embedding script and an example CRM page.
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
// The embedding script (Callsync.mount, <callsync-softphone>, tel: links)
// and an example CRM page that uses it.
await build({
  entryPoints: ['src/embed.js'], bundle: true, format: 'esm', platform: 'browser',
  target: 'es2020', minify: true, sourcemap: true, outfile: 'dist/callsync.js', logLevel: 'warning',
});
copyFileSync('crm-example.html', 'dist/crm-example.html');
