#!/usr/bin/env node
// The installed command: the agent host's loader runs this package's built main.
import { runBuilt } from '@nullops/agent-host/run-built';

await runBuilt(new URL('../dist/main.js', import.meta.url));
