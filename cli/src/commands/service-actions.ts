// `nullops restart|stop|start`: a day-2 action on one service, waited for.

import type { Command } from 'commander';
import { TimeoutError } from '../follow.js';
import { api, deploymentOf } from '../lookup.js';
import { timeout } from '../options.js';
import { print, progress } from '../output.js';

interface Operation {
  id: string;
  kind: string;
  service: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  message: string | null;
}

export function registerServiceActions(program: Command): void {
  for (const [action, what] of [
    ['restart', 'restart one service of a running deployment (its container or pod, same volumes)'],
    ['stop', 'stop one service; it stays stopped until started'],
    ['start', 'start a stopped service again'],
  ] as const)
    program
      .command(action)
      .description(`${what}; queued behind the deployment's other operations`)
      .argument('<deployment>', 'name or id')
      .argument('<service>', 'the service')
      .option('--no-wait', 'do not wait for the result')
      .addOption(timeout('how long to wait', 300_000, '5m'))
      .option('-e, --env <environment>', 'the environment, when the name is used in several')
      .action(async (ref: string, service: string, o) => {
        const client = await api();
        const d = await deploymentOf(client, ref, o.env);
        let op = await client.post<Operation>(`/api/deployments/${d.id}/services/${service}/${action}`);
        const deadline = Date.now() + o.timeout;
        let said = '';
        while (o.wait && (op.state === 'queued' || op.state === 'running')) {
          const now = `${op.state}${op.message ? `: ${op.message}` : ''}`;
          if (now !== said) progress(`${action} ${service}: ${now}`);
          said = now;
          if (Date.now() > deadline) throw new TimeoutError(`${action} ${service} is still ${op.state}`);
          await new Promise((r) => setTimeout(r, 300));
          const { items } = await client.get<{ items: Operation[] }>(`/api/deployments/${d.id}/operations`);
          op = items.find((x) => x.id === op.id) ?? op;
        }
        print(`${action} ${service}: ${op.state}${op.message ? ` (${op.message})` : ''}`, op);
        if (op.state === 'failed') process.exitCode = 1;
      });
}
