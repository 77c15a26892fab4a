export { containerService, containerServiceParams } from './container-service.js';

import { containerService } from './container-service.js';

/** The components this plugin contributes. */
export const components = [containerService];
