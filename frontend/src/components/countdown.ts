import { html, LitElement } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';

/** Time left until `until` (an ISO time), ticking every second: "2h 05m", "4m 10s", "expired". */
@customElement('nullops-countdown')
export class Countdown extends LitElement {
  @property() until: string | null = null;
  @state() private now = Date.now();
  private timer: number | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.timer = window.setInterval(() => {
      this.now = Date.now();
    }, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.timer);
  }

  override render() {
    if (!this.until) return html`<span>never</span>`;
    const left = Math.max(0, Math.floor((Date.parse(this.until) - this.now) / 1000));
    if (left === 0) return html`<span>expired</span>`;
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    const s = left % 60;
    const text = h ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s).padStart(2, '0')}s`;
    return html`<time datetime=${this.until} title="Auto-cleanup at ${new Date(this.until).toLocaleString()}">${text}</time>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-countdown': Countdown;
  }
}
