import { definePlugin } from '@nullops/plugin-sdk';
import { containerService } from './container-service.js';

export { containerService, containerServiceParams } from './container-service.js';

export default definePlugin({ components: [containerService] });
