import { definePlugin } from '@nullops/plugin-sdk';
import { addConnectionRoute } from './connection-route.js';
import { postgresDatabase } from './postgres-database.js';

export { postgresDatabase, postgresDatabaseParams } from './postgres-database.js';

export default definePlugin({
  components: [postgresDatabase],
  controlPlane: (ctx) => addConnectionRoute(ctx),
});
