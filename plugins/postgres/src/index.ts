import { definePlugin } from '@nullops/plugin-sdk';
import { postgresDatabase } from './postgres-database.js';

export { postgresDatabase, postgresDatabaseParams } from './postgres-database.js';

export default definePlugin({ components: [postgresDatabase] });
