import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { loadTranscript } from './helpers/transcript-replay.js';
import { K8S_API_DIR, openApiSchemas } from './kube-fake/openapi.js';

/**
 * The repository reads nothing outside itself: a clone on a machine with nothing beside it runs
 * the whole suite (CI's `.ci/run` does exactly that). This test finds what would break that
 * without a clone: every relative path written in the code, the scripts and the docs is resolved
 * from where it is written, and must stay inside the repository.
 */
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SKIPPED = new Set(['node_modules', 'dist', '.git', '.nullops', 'test-artifacts', 'k8s-api']);
const TEXT = /\.(ts|mjs|js|json|sh|md|yaml|yml)$|^run$|Dockerfile$/;

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIPPED.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (TEXT.test(name)) yield path;
  }
}

const inside = (path: string) => path === ROOT || path.startsWith(ROOT + sep);

test('no path written in the repository climbs out of it', (t) => {
  const outside: string[] = [];
  let checked = 0;
  for (const file of files(ROOT)) {
    const text = readFileSync(file, 'utf8');
    // Relative paths in quotes, backticks or parentheses (imports, URLs, Markdown links).
    for (const match of text.matchAll(/['"`(]((?:\.\.\/)+[^'"`)\s]*)/g)) {
      checked++;
      const target = resolve(dirname(file), match[1] as string);
      if (!inside(target)) outside.push(`${relative(ROOT, file)}: ${match[1]}`);
    }
    if (/\/work\/(main|shared)\b/.test(text))
      outside.push(`${relative(ROOT, file)}: an absolute workspace path`);
  }
  t.true(checked > 100, 'the scan saw the repository');
  t.deepEqual(outside, []);
});

test('the recordings of the real Kubernetes API are fixtures of the repository', (t) => {
  t.true(inside(K8S_API_DIR));
  const schemas = openApiSchemas();
  t.truthy(schemas['io.k8s.api.apps.v1.Deployment'], 'the OpenAPI documents load');
  const transcripts = readdirSync(join(K8S_API_DIR, 'transcripts')).filter((f) => f.endsWith('.json'));
  t.true(transcripts.length >= 15);
  for (const name of transcripts) t.true(loadTranscript(name).length > 0, name);
  t.regex(readFileSync(join(K8S_API_DIR, 'README.md'), 'utf8'), /Lessons a fake must honour/);
});
