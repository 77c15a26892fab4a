import { definePlugin } from '@nullops/plugin-sdk';
import { hello } from './hello.js';

export { hello, helloParams } from './hello.js';

// The main module (package.json `nullops.main`) default-exports the plugin.
export default definePlugin({ components: [hello] });
