import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { InputError, SECRET_REFERENCE, walkStrings } from '@nullops/plugin-sdk';
import { ClusterBus } from '../cluster/cluster-bus.js';
import type { Database } from '../database/database.js';
import { Secret } from '../models/catalog.js';
import { Refs } from '../refs.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';
import { insertRecord, patchRecord } from './records.js';

export { SECRET_REFERENCE };

/**
 * Bus topic, published in the transaction that changed a secret's value (so heard once it commits,
 * on every replica): what holds values it resolved (plugins' settings) resolves them again.
 */
export const SECRET_VALUE_CHANGED_TOPIC = 'secrets.value-changed';

/**
 * Reads secret values for the control plane's own use (resolving pipeline parameters before they
 * go to an agent over TLS). Values never leave through the API.
 */
@injectable()
export class SecretService {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(ClusterBus) private readonly bus: ClusterBus,
  ) {}

  /** A new secret, its value encrypted (bound to its own row). */
  create(
    db: Database,
    input: { name: string; value: string; description?: string | undefined },
    createdBy: string | null,
  ) {
    const id = randomUUID();
    return insertRecord(Secret, db, {
      id,
      name: input.name,
      description: input.description ?? null,
      valueEnc: this.box.encrypt(input.value, sealedContexts.secret(id)),
      createdBy,
    });
  }

  /** Replaces a secret's value, its description, or both. */
  async update(
    db: Database,
    id: string,
    input: { value?: string | undefined; description?: string | null | undefined },
  ) {
    const patch: Partial<Secret> = { updatedAt: new Date() };
    if (input.value !== undefined) patch.valueEnc = this.box.encrypt(input.value, sealedContexts.secret(id));
    if (input.description !== undefined) patch.description = input.description;
    const row = await patchRecord(Secret, db, id, 'secret', patch);
    if (input.value !== undefined) await this.bus.publish(SECRET_VALUE_CHANGED_TOPIC, {}, db);
    return row;
  }

  /** The plaintext of each named secret; an unknown name is an input error naming it. */
  async reveal(names: string[], db: Database = this.db): Promise<Map<string, string>> {
    const unique = [...new Set(names)];
    const rows = await Secret.query(db).whereIn('name', unique);
    const found = new Map(
      rows.map((r) => [r.name, this.box.decrypt(r.valueEnc, sealedContexts.secret(r.id))]),
    );
    const missing = unique.filter((n) => !found.has(n));
    if (missing.length)
      throw new InputError(`unknown secret(s): ${missing.join(', ')}; create them under Secrets first`);
    return found;
  }

  /** Every secret name referenced anywhere inside a JSON value. */
  static referencedNames(value: unknown): string[] {
    const names = new Set<string>();
    const visit = (v: unknown) => {
      if (typeof v === 'string') for (const m of v.matchAll(SECRET_REFERENCE)) names.add(m[1] as string);
      else if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === 'object') Object.values(v).forEach(visit);
    };
    visit(value);
    return [...names];
  }

  /** Replaces every `${secret:NAME}` inside a JSON value with the secret's value. */
  async substitute(value: unknown, db: Database = this.db, used?: Set<string>): Promise<unknown> {
    const names = SecretService.referencedNames(value);
    if (!names.length) return value;
    const values = await this.reveal(names, db);
    for (const v of values.values()) used?.add(v);
    return walkStrings(value, (s) =>
      s.replace(SECRET_REFERENCE, (_, name: string) => values.get(name) ?? ''),
    );
  }

  /** Fails with an error naming `field` when a value references secrets that do not exist. */
  async checkReferences(value: unknown, db: Database, field: string): Promise<void> {
    try {
      await this.reveal(SecretService.referencedNames(value), db);
    } catch (err) {
      throw InputError.field(field, (err as Error).message);
    }
  }

  /** Re-encrypts every secret written with an older key under the current one; returns how many. */
  async rotateAll(db: Database = this.db): Promise<number> {
    let rotated = 0;
    for (const row of await Secret.query(db)) {
      if (!this.box.needsRotation(row.valueEnc)) continue;
      const plain = this.box.decrypt(row.valueEnc, sealedContexts.secret(row.id));
      await Secret.query(db)
        .patch({ valueEnc: this.box.encrypt(plain, sealedContexts.secret(row.id)) })
        .where('id', row.id);
      rotated++;
    }
    return rotated;
  }
}
