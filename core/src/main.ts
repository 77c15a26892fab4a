#!/usr/bin/env node
// The control plane alone (what its image runs; agents run beside it). `npm start` runs the
// all-in-one entry instead (deploy/all-in-one): the control plane with a local Docker agent.
import 'reflect-metadata';
import { runControlPlaneProcess } from './control-plane/process.js';

runControlPlaneProcess().catch((err) => {
  process.stderr.write(`NullOps failed to start: ${(err as Error)?.message || String(err)}\n`);
  process.exit(1);
});
