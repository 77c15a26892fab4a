#!/usr/bin/env node
// Stages workspaces for an image: `node scripts/stage-workspace.mjs <out> <workspace>…` (an agent
// package; or core and frontend for the control plane). The output holds exactly what they run
// with — their production dependencies (installed from the lockfile with `npm ci --omit=dev
// --workspace …`) and the built code of the workspaces they use (for an agent: the agent host, the
// kernel, the SDK, the bundled plugins; never the control plane). Run it after the build; the
// images' Dockerfiles (agent-host/Dockerfile, core/Dockerfile) run it in their build stage.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, resolve } from 'node:path';

const [outArg, ...wanted] = process.argv.slice(2);
if (!outArg || !wanted.length || wanted.some((w) => !existsSync(join(w, 'package.json')))) {
  console.error('usage: node scripts/stage-workspace.mjs <output folder> <workspace>… (e.g. agent-docker)');
  process.exit(2);
}
const out = resolve(outArg);
const root = process.cwd();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// The workspace layout (package.json files only) and the lockfile: npm ci resolves exactly these.
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const workspaces = manifest.workspaces.flatMap((w) =>
  w.endsWith('/*')
    ? readdirSync(w.slice(0, -2))
        .map((d) => `${w.slice(0, -1)}${d}`)
        .filter((d) => existsSync(join(d, 'package.json')))
    : [w],
);
for (const w of workspaces) {
  mkdirSync(join(out, w), { recursive: true });
  cpSync(join(w, 'package.json'), join(out, w, 'package.json'));
}
delete manifest.devDependencies;
delete manifest.scripts;
writeFileSync(join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
cpSync('package-lock.json', join(out, 'package-lock.json'));
if (existsSync('.npmrc')) cpSync('.npmrc', join(out, '.npmrc'));
execFileSync(
  'npm',
  [
    'ci',
    '--omit=dev',
    ...wanted.flatMap((w) => ['--workspace', w]),
    '--ignore-scripts',
    '--no-audit',
    '--no-fund',
  ],
  {
    cwd: out,
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);

// Built code of the workspaces the wanted ones depend on (npm links every workspace; only these
// are kept, and the links to the others go with their folders).
const byName = new Map(
  workspaces.map((w) => [JSON.parse(readFileSync(join(w, 'package.json'), 'utf8')).name, w]),
);
const linked = new Set();
const visit = (w) => {
  if (linked.has(w)) return;
  linked.add(w);
  const { dependencies = {} } = JSON.parse(readFileSync(join(w, 'package.json'), 'utf8'));
  for (const name of Object.keys(dependencies)) if (byName.has(name)) visit(byName.get(name));
};
for (const w of wanted) visit(w.replace(/\/+$/, ''));
const scope = join(out, 'node_modules', '@nullops');
for (const name of readdirSync(scope)) {
  const target = relative(out, resolve(scope, readlinkSync(join(scope, name))));
  if (!linked.has(target)) rmSync(join(scope, name), { force: true });
}
for (const w of workspaces) {
  if (!linked.has(w)) {
    rmSync(join(out, w), { recursive: true, force: true });
    continue;
  }
  for (const extra of ['dist', 'bin', 'deploy', 'frontend'])
    if (existsSync(join(root, w, extra)))
      cpSync(join(root, w, extra), join(out, w, extra), {
        recursive: true,
        // Tests, source maps and build info are not part of what runs.
        filter: (src) => !/\.test\.(js|d\.ts)(\.map)?$|\.map$|tsbuildinfo$/.test(src),
      });
  if (!existsSync(join(out, w, 'dist')) && existsSync(join(root, w, 'src')))
    throw new Error(`${w} is not built: run the build first`);
}
// Empty folders left by removed workspaces.
for (const dir of ['plugins'])
  if (existsSync(join(out, dir)) && !readdirSync(join(out, dir)).length)
    rmSync(join(out, dir), { recursive: true });
console.log(
  `staged ${wanted.join(', ')} in ${relative(root, out) || out} (${[...linked].sort().join(', ')})`,
);
