/**
 * Elements for other portals, from one script: `<script type="module" src="https://nullops/embed.js">`
 * defines them (see embed/embedded.ts for what they share).
 */
import './embed/embedded-deployments.js';
import './embed/deploy-button.js';

export { DeployButton } from './embed/deploy-button.js';
export { EmbeddedDeployments } from './embed/embedded-deployments.js';
