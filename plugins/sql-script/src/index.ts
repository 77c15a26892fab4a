import { definePlugin } from '@nullops/plugin-sdk';
import { sqlScript } from './sql-script.js';

export { sqlScript, sqlScriptParams } from './sql-script.js';

export default definePlugin({ components: [sqlScript] });
