import { definePlugin } from '@nullops/plugin-sdk';
import { httpCheck } from './http-check.js';

export { httpCheck, httpCheckParams } from './http-check.js';

export default definePlugin({ components: [httpCheck] });
