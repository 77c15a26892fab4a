import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { ConflictError } from '@nullops/plugin-sdk';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import type { Database } from '../database/database.js';
import { ensureNoLiveDeployments } from '../deployments/decommission.js';
import { AgentNode } from '../models/fleet.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { issueNodeToken } from './node-tokens.js';
import { findOr404, insertRecord, patchRecord } from './records.js';

export interface NodeInput {
  environmentId: string;
  name: string;
  host: string;
  port: number;
  labels: Record<string, string>;
  enabled: boolean;
}

/**
 * Nodes: one agent each. The control plane issues the agent token (shown once) and pins the
 * agent's certificate; every change that touches the link tells the connection manager, after the
 * change commits.
 */
@injectable()
export class Nodes {
  constructor(
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
  ) {}

  async list(db: Database, environmentId?: string): Promise<AgentNode[]> {
    const query = AgentNode.query(db).orderBy('name');
    if (environmentId) query.where('environmentId', environmentId);
    return query;
  }

  /** A new node and its agent token (the only time the token is shown). */
  async register(db: Database, input: NodeInput): Promise<{ node: AgentNode; token: string }> {
    const id = randomUUID();
    const { token, ...stored } = issueNodeToken(this.box, id);
    const node = await insertRecord(AgentNode, db, { id, ...input, ...stored });
    await this.agents.refreshLater(db, id);
    return { node, token };
  }

  async update(db: Database, id: string, patch: Partial<NodeInput>): Promise<AgentNode> {
    const before = await findOr404(AgentNode, db, id, 'node');
    const node = await AgentNode.query(db).patchAndFetchById(id, { ...patch, updatedAt: new Date() });
    // Only a new address needs a new connection; enabling, renaming or labelling keeps it.
    const moved = node.host !== before.host || node.port !== before.port;
    await this.agents.refreshLater(db, id, { reconnect: moved });
    return node;
  }

  /** Removes a node that has no deployment left (deleted ones keep its name). */
  async remove(db: Database, id: string): Promise<void> {
    await findOr404(AgentNode, db, id, 'node');
    await ensureNoLiveDeployments(db, { nodeId: id }, 'node');
    await AgentNode.query(db).deleteById(id);
    await this.agents.refreshLater(db, id, { reconnect: true });
  }

  /** A new agent token; the old one stops working at once. */
  async rotateToken(db: Database, id: string): Promise<string> {
    const { token, ...stored } = issueNodeToken(this.box, id);
    await patchRecord(AgentNode, db, id, 'node', { ...stored, updatedAt: new Date() });
    await this.agents.refreshLater(db, id, { reconnect: true });
    return token;
  }

  /** No token: the node is disconnected until a new one is issued. */
  async revokeToken(db: Database, id: string): Promise<void> {
    await patchRecord(AgentNode, db, id, 'node', {
      tokenEnc: null,
      tokenIssuedAt: null,
      updatedAt: new Date(),
    });
    await this.agents.refreshLater(db, id, { reconnect: true });
  }

  /**
   * Trusts the agent's new certificate. The admin repeats the thumbprint they checked, so a
   * certificate swapped meanwhile is not approved blindly.
   */
  async approveThumbprint(db: Database, id: string, thumbprint: string): Promise<AgentNode> {
    const node = await findOr404(AgentNode, db, id, 'node');
    if (node.pendingThumbprint !== thumbprint)
      throw new ConflictError(
        'that thumbprint is not the one waiting for approval; reload and compare again',
      );
    const approved = await AgentNode.query(db).patchAndFetchById(id, {
      thumbprint: node.pendingThumbprint,
      pendingThumbprint: null,
      status: 'unknown',
      statusMessage: 'new certificate approved; reconnecting',
      updatedAt: new Date(),
    });
    await this.agents.refreshLater(db, id, { reconnect: true });
    return approved;
  }
}
