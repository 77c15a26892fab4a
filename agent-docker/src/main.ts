#!/usr/bin/env node
import { runAgentMain } from '@nullops/agent-host';
import { dockerAgentConfigShape, loadDockerAgentConfig, startDockerAgent } from './docker-agent.js';

await runAgentMain({
  name: 'nullops-agent',
  loadConfig: loadDockerAgentConfig,
  configShape: dockerAgentConfigShape,
  start: startDockerAgent,
});
