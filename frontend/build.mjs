// Bundles the web UI with esbuild: ES modules with code splitting (the pipeline editor and other
// heavy pages load only when opened), minified, into dist/public, which the control plane serves.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist', 'public');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: { app: join(here, 'src', 'main.ts') },
  bundle: true,
  splitting: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outdir: out,
  chunkNames: 'chunks/[name]-[hash]',
  metafile: true,
  tsconfig: join(here, 'tsconfig.json'),
  legalComments: 'none',
  logLevel: 'warning',
});
// The embeddable elements: one self-contained module other origins load (no shared chunks).
const embed = await build({
  entryPoints: { embed: join(here, 'src', 'embed.ts') },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outdir: out,
  metafile: true,
  tsconfig: join(here, 'tsconfig.json'),
  legalComments: 'none',
  logLevel: 'warning',
});
Object.assign(result.metafile.outputs, embed.metafile.outputs);
await copyFile(join(here, 'src', 'index.html'), join(out, 'index.html'));
if (process.env.NULLOPS_UI_SIZES) {
  for (const [file, info] of Object.entries(result.metafile.outputs)) console.log(file, info.bytes);
}
