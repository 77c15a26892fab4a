#!/usr/bin/env node
import { runAgentMain } from '@nullops/agent-host';
import { dockerAgent } from './docker-agent.js';

await runAgentMain(dockerAgent);
