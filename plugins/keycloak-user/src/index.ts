import { definePlugin } from '@nullops/plugin-sdk';
import { keycloakUser } from './keycloak-user.js';

export { keycloakUser, keycloakUserParams } from './keycloak-user.js';

export default definePlugin({ components: [keycloakUser] });
