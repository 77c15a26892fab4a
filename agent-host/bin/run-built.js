// What every agent's installed command does. The commands are committed (npm links a bin only if its
// target exists at install time, and dist/ is built after `npm ci`), so this file is plain
// JavaScript, not compiled: it loads an agent's built program, or says how to build it.
import { existsSync } from 'node:fs';

/** @param {URL} program the agent's built main module */
export async function runBuilt(program) {
  if (!existsSync(program)) {
    process.stderr.write('NullOps agent is not built yet: run `npm run build` first\n');
    process.exit(1);
  }
  await import(program.href);
}
