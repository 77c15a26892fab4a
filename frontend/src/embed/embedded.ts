import { LitElement } from 'lit';
import { property, state } from 'lit/decorators.js';
import { Api } from '../api.js';

/**
 * Elements for other portals, from one script: `<script type="module" src="https://nullops/embed.js">`.
 * They call the NullOps API of the script's origin (or `api="…"`) with the API token in `token`
 * (create one under your profile; the control plane must list the portal in NULLOPS_CORS_ORIGINS).
 */
const scriptOrigin = new URL(import.meta.url).origin;

export abstract class Embedded extends LitElement {
  /** The project's id. */
  @property() project = '';
  /** An API token (Authorization: Bearer). */
  @property() token = '';
  /** The control plane's base URL; defaults to where this script came from. */
  @property() api = scriptOrigin;
  @state() protected error = '';

  protected client(): Api {
    return new Api(this.api.replace(/\/+$/, ''), this.token);
  }
}
