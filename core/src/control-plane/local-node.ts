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
import { sealedContexts } from './security/sealed-contexts.js';
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
    nodeId = await registerLocalNode(
      db,
      box,
      config.NULLOPS_LOCAL_DOMAIN,
      config.NULLOPS_EMBEDDED_AGENT_PORT,
    );
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

/** Environment `local`: this machine's, made by the first start. */
async function localEnvironment(db: Database, baseDomain: string): Promise<Environment> {
  const env = await Environment.query(db).findOne({ name: 'local' });
  return (
    env ??
    (await Environment.query(db).insertAndFetch({
      id: randomUUID(),
      name: 'local',
      description: 'This machine (created by the first start)',
      baseDomain,
      runtime: FIRST_PARTY_RUNTIMES.docker.kind,
      defaultTtlSeconds: 86400,
    }))
  );
}

/**
 * The agent configured beside the control plane (NULLOPS_AGENT_ADDRESS and NULLOPS_AGENT_TOKEN,
 * as docker compose runs it): node `local` of environment `local`, made on the first start and
 * kept at the configured address and token after that. Replicas starting together make it once.
 */
export async function ensureConfiguredAgent(deps: {
  config: ControlPlaneConfig;
  db: Database;
  box: SecretBox;
  logger: Logger;
}): Promise<void> {
  const { config, db, box, logger } = deps;
  const address = config.NULLOPS_AGENT_ADDRESS;
  const token = config.NULLOPS_AGENT_TOKEN;
  if (!address || !token) return;
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.split(':').at(-1))];
  await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['nullops:configured-agent']);
    const env = await localEnvironment(trx, config.NULLOPS_LOCAL_DOMAIN);
    const node = await AgentNode.query(trx).findOne({ environmentId: env.id, name: 'local' });
    const id = node?.id ?? randomUUID();
    const sealed = { tokenEnc: box.encrypt(token, sealedContexts.nodeToken(id)), tokenIssuedAt: new Date() };
    if (!node) {
      await AgentNode.query(trx).insert({
        id,
        environmentId: env.id,
        name: 'local',
        host,
        port,
        labels: { configured: 'true' },
        enabled: true,
        ...sealed,
      });
      logger.info({ address }, 'registered the configured agent as node "local" of environment "local"');
    } else if (node.host !== host || node.port !== port || revealNodeToken(box, node) !== token) {
      await AgentNode.query(trx)
        .patch({ host, port, ...sealed, updatedAt: new Date() })
        .where('id', id);
      logger.info({ address }, 'node "local" follows the configured agent’s address and token');
    }
  });
}

async function registerLocalNode(
  db: Database,
  box: SecretBox,
  baseDomain: string,
  port: number,
): Promise<string> {
  return db.transaction(async (trx) => {
    const env = await localEnvironment(trx, baseDomain);
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
