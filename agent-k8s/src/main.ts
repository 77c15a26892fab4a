#!/usr/bin/env node
import { runAgentMain } from '@nullops/agent-host';
import { k8sAgentConfigShape, loadK8sAgentConfig, startK8sAgent } from './k8s-agent.js';

await runAgentMain({
  name: 'nullops-agent-k8s',
  loadConfig: loadK8sAgentConfig,
  configShape: k8sAgentConfigShape,
  start: startK8sAgent,
});
