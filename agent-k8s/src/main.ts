#!/usr/bin/env node
import { runAgentMain } from '@nullops/agent-host';
import { k8sAgent } from './k8s-agent.js';

await runAgentMain(k8sAgent);
