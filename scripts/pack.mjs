// `npm run pack`: the packages people install outside this repository, as npm tarballs, until
// they are published to a registry — the plugin SDK (what a plugin builds against, and the
// template's only NullOps dependency) and the CLI. Into dist-packages/ (or the folder given).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const destination = resolve(process.argv[2] ?? join(root, 'dist-packages'));
mkdirSync(destination, { recursive: true });
const packed = JSON.parse(
  execFileSync(
    'npm',
    ['pack', '--json', '--pack-destination', destination, '--workspace', 'plugin-sdk', '--workspace', 'cli'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  ),
);
for (const p of packed) console.log(`${p.name}@${p.version}: ${join(destination, p.filename)}`);
