import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { dockerEngineUnreachable, loadDockerAgentConfig, startDockerAgent } from '@nullops/agent-docker';
import { AgentIdentity, type RunningAgent } from '@nullops/agent-host';
import type { Logger } from 'pino';
import type { ControlPlaneConfig } from './config.js';
import type { Database } from './database/database.js';
import { Installation } from './installation.js';
import { AgentNode, Environment } from './models/fleet.js';
import type { SecretBox } from './security/secret-box.js';
import { issueNodeToken, revealNodeToken } from './services/node-tokens.js';

/**
 * The one-machine default: when a Docker engine is reachable, `npm start` also runs a Docker agent
 * in this process. The first time, it registers environment `local` (base domain `localhost`, so
 * URLs like http://web.demo.local.localhost work in a browser with no DNS) and its node `local`.
 * The agent is a normal node: TLS, token, pinning and reconcile all apply. An admin who deletes
 * the node turns the embedded agent off for good.
 */
export async function startEmbeddedAgent(deps: {
  config: ControlPlaneConfig;
  db: Database;
  box: SecretBox;
  logger: Logger;
}): Promise<RunningAgent | undefined> {
  const { config, db, box } = deps;
  const logger = deps.logger.child({ component: 'embedded-agent' });
  if (config.NULLOPS_EMBEDDED_AGENT === 'off') return undefined;
  const unreachable = await dockerEngineUnreachable();
  if (unreachable) {
    logger.info({ reason: unreachable }, 'no Docker engine reachable: starting without a local agent');
    return undefined;
  }

  const dataDir = resolve(config.NULLOPS_DATA_DIR);
  const marker = join(dataDir, 'embedded-agent.json');
  let nodeId: string;
  if (existsSync(marker)) {
    nodeId = (JSON.parse(await readFile(marker, 'utf8')) as { nodeId: string }).nodeId;
  } else {
    nodeId = await registerLocalNode(db, box, config.NULLOPS_EMBEDDED_AGENT_PORT);
    await writeFile(marker, JSON.stringify({ nodeId }), { mode: 0o600 });
    logger.info('registered environment "local" with node "local" for the embedded agent');
  }
  const node = await AgentNode.query(db).findById(nodeId);
  const token = node && revealNodeToken(box, node);
  if (!node || !token) {
    logger.info('the embedded node was removed or its token revoked: not starting the local agent');
    return undefined;
  }
  // Its identity is its node's and this database's: two `npm start`s on one Docker engine (two
  // installations) never touch each other's deployments.
  const identity = new AgentIdentity({ installationId: await new Installation(db).id(), nodeId: node.id });
  let agent: RunningAgent | undefined;
  try {
    agent = await startDockerAgent({
      config: loadDockerAgentConfig({
        NULLOPS_AGENT_TOKEN: token,
        NULLOPS_AGENT_PORT: String(node.port),
        NULLOPS_AGENT_LISTEN_HOST: '127.0.0.1',
        NULLOPS_AGENT_DATA_DIR: join(dataDir, 'agent'),
        NULLOPS_HOST_ISOLATION: config.NULLOPS_HOST_ISOLATION,
      }),
      identity,
      logger,
      // Another agent process holds this node's resources: this control plane runs on without it.
      onFatal: (message) => {
        logger.error({ reason: message }, 'the local agent stops');
        void agent?.close();
      },
    });
  } catch (err) {
    logger.error(
      { reason: (err as Error).message },
      'the local agent cannot start; NullOps runs on without it',
    );
    return undefined;
  }
  return agent;
}

async function registerLocalNode(db: Database, box: SecretBox, port: number): Promise<string> {
  return db.transaction(async (trx) => {
    let env = await Environment.query(trx).findOne({ name: 'local' });
    env ??= await Environment.query(trx).insertAndFetch({
      id: randomUUID(),
      name: 'local',
      description: 'This machine (created by the first start)',
      baseDomain: 'localhost',
      runtime: 'docker',
      defaultTtlSeconds: 86400,
    });
    const id = randomUUID();
    const { token: _shownToNobody, ...stored } = issueNodeToken(box, id);
    await AgentNode.query(trx).insert({
      id,
      environmentId: env.id,
      name: 'local',
      host: '127.0.0.1',
      port,
      labels: { embedded: 'true' },
      enabled: true,
      ...stored,
    });
    return id;
  });
}
