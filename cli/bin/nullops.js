#!/usr/bin/env node
// The installed command. It is committed (npm links a bin only if its target exists at install
// time, and dist/ is built after `npm ci`), and it loads the built program.
import { existsSync } from 'node:fs';

const program = new URL('../dist/main.js', import.meta.url);
if (!existsSync(program)) {
  process.stderr.write('the nullops CLI is not built yet: run `npm run build` first\n');
  process.exit(1);
}
await import(program.href);
