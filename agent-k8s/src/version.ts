import { readFileSync } from 'node:fs';

/** This package's version, reported to the control plane in the agent's hello. */
export const AGENT_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
