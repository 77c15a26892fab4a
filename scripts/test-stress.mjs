#!/usr/bin/env node
// Runs the test suite (scripts/run-tests.mjs, with the same arguments) while a CPU hog keeps every
// core busy beside it: the proof that the suite waits for conditions and not for time. The hog is
// Debian's stress-ng when installed, otherwise a Node worker spinning per core; it stops with the
// suite. Prints how long the suite took and the load average it ran under.
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';

const cores = availableParallelism();
const hasStressNg = spawnSync('stress-ng', ['--version'], { stdio: 'ignore' }).status === 0;
const hog = hasStressNg
  ? spawn('stress-ng', ['--cpu', String(cores), '--cpu-method', 'matrixprod', '--quiet'], {
      stdio: 'ignore',
    })
  : spawn(
      process.execPath,
      [
        '-e',
        `const { Worker } = require('node:worker_threads');
         for (let i = 0; i < ${cores}; i++) new Worker('for (;;) {}', { eval: true });`,
      ],
      { stdio: 'ignore' },
    );
console.log(`test:stress: ${hasStressNg ? 'stress-ng' : 'a Node worker'} spinning on all ${cores} cores`);

const started = Date.now();
const load = [];
const sampler = setInterval(() => load.push(loadavg()[0]), 10_000);
const suite = spawn(process.execPath, [join('scripts', 'run-tests.mjs'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: process.env,
});
const stop = (signal) => {
  suite.kill(signal);
  hog.kill('SIGKILL');
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
suite.on('exit', (code, signal) => {
  clearInterval(sampler);
  hog.kill('SIGKILL');
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const mean = load.length ? (load.reduce((a, b) => a + b, 0) / load.length).toFixed(1) : '?';
  const peak = load.length ? Math.max(...load).toFixed(1) : '?';
  console.log(
    `test:stress: suite ${code === 0 ? 'passed' : 'FAILED'} in ${minutes} min, load average ${mean} (peak ${peak}) on ${cores} cores`,
  );
  process.exit(code ?? (signal ? 1 : 0));
});
