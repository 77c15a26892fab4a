import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FIRST_PARTY_RUNTIMES } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import type { ControlPlaneConfig } from './config.js';
import type { Database } from './database/database.js';
import { Installation } from './installation.js';
import { AgentNode, Environment } from './models/fleet.js';
import type { SecretBox } from './security/secret-box.js';
import { issueNodeToken, revealNodeToken } from './services/node-tokens.js';

/** What an agent in the control plane's own process needs to be the node `local`. */
export interface LocalNodeCredentials {
  token: string;
  port: number;
  /** Its identity is its node's and this database's: two installations on one engine never meet. */
  owner: { installationId: string; nodeId: string };
  /** Where its state lives: `agent/` in the control plane's data directory. */
  dataDir: string;
}

/**
 * The one-machine default's node: the first time, environment `local` (base domain `localhost`,
 * so URLs like http://web.demo.local.localhost work in a browser with no DNS) and its node `local`
 * are registered; after that, the same node. Undefined once an admin deleted the node or revoked
 * its token: the local agent is then off for good. Which runtime the agent drives is the caller's
 * (the all-in-one entry starts a Docker agent): the control plane names none.
 */
export async function localNodeCredentials(deps: {
  config: ControlPlaneConfig;
  db: Database;
  box: SecretBox;
  logger: Logger;
}): Promise<LocalNodeCredentials | undefined> {
  const { config, db, box, logger } = deps;
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
  return {
    token,
    port: node.port,
    owner: { installationId: await new Installation(db).id(), nodeId: node.id },
    dataDir: join(dataDir, 'agent'),
  };
}

async function registerLocalNode(db: Database, box: SecretBox, port: number): Promise<string> {
  return db.transaction(async (trx) => {
    let env = await Environment.query(trx).findOne({ name: 'local' });
    env ??= await Environment.query(trx).insertAndFetch({
      id: randomUUID(),
      name: 'local',
      description: 'This machine (created by the first start)',
      baseDomain: 'localhost',
      runtime: FIRST_PARTY_RUNTIMES.docker.kind,
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
