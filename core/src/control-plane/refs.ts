import type { Metrics } from '@nullops/kernel';
import { serviceRef } from '@nullops/kernel';
import type { Logger } from 'pino';
import type { ControlPlaneConfig } from './config.js';
import type { Database } from './database/database.js';
import type { SecretBox } from './security/secret-box.js';

/** DI tokens of the control plane's shared resources. */
export const Refs = {
  config: serviceRef<ControlPlaneConfig>('core.config'),
  logger: serviceRef<Logger>('core.logger'),
  database: serviceRef<Database>('core.database'),
  secretBox: serviceRef<SecretBox>('core.secret-box'),
  metrics: serviceRef<Metrics>('core.metrics'),
};
