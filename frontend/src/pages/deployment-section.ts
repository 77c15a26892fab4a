import { LitElement } from 'lit';
import { property } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { shared } from '../theme.js';
import type { Deployment } from './types.js';

/**
 * The deployment page's own sections, each a core extension attached to the page's `panels`,
 * built exactly like a plugin's panel: an element given `api`, `access` and `deployment`.
 *
 * @fires deployment-changed - it queued an operation: the page loads the deployment again.
 * @fires deployment-error - with a message for the page to show.
 */
export abstract class DeploymentSection extends LitElement {
  static override styles = [shared];
  @property({ attribute: false }) api!: Api;
  @property() access: 'read' | 'full' = 'read';
  @property({ attribute: false }) deployment?: Deployment;

  protected get live(): boolean {
    return this.deployment?.live ?? false;
  }

  /** Tells the page something changed (an operation queued), so it loads what it shows again. */
  protected changed(): void {
    this.dispatchEvent(new CustomEvent('deployment-changed', { bubbles: true, composed: true }));
  }

  protected failed(err: unknown): void {
    this.dispatchEvent(
      new CustomEvent('deployment-error', { detail: (err as Error).message, bubbles: true, composed: true }),
    );
  }
}
