import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);

/**
 * Every command the README names is linked by `npm ci` on a fresh clone (npm skips a bin whose
 * target does not exist at install time, so bins are committed shims over the built program) and
 * runs from node_modules/.bin.
 */
for (const [bin, pkg] of <[string, string][]>[
  ['nullops-agent-docker', 'agent-docker'],
  ['nullops-agent-k8s', 'agent-k8s'],
]) {
  test(`${bin} is installed and runs`, async (t) => {
    const link = resolve('node_modules/.bin', bin);
    t.is(realpathSync(link), resolve(pkg, 'bin', `${bin}.js`));
    const error = await t.throwsAsync(
      run(link, [], { env: { PATH: process.env.PATH, NULLOPS_LOG_LEVEL: 'silent' } }),
    );
    const failed = error as Error & { code?: number; stderr?: string };
    t.is(failed.code, 2, 'a missing token is a configuration error');
    t.regex(failed.stderr ?? '', /NULLOPS_AGENT_TOKEN: is required/);
  });
}

test('nullops (the CLI) is installed and runs', async (t) => {
  const link = resolve('node_modules/.bin', 'nullops');
  t.is(realpathSync(link), resolve('cli', 'bin', 'nullops.js'));
  const { stdout } = await run(link, ['--help'], { env: { PATH: process.env.PATH } });
  for (const command of ['login', 'deploy', 'ls', 'status', 'logs', 'extend', 'clone', 'rm', 'import'])
    t.regex(stdout, new RegExp(`^ {2}${command} `, 'm'));
});
