import { css } from 'lit';

/** The dark palette, used when the system prefers dark (and the user did not pick light) or the user picked dark. */
const darkPalette = css`
  --bg: #0f1216;
  --panel: #171b21;
  --text: #e6e9ee;
  --muted: #9aa4b1;
  --border: #2a313a;
  --accent: #6c9bff;
  --accent-text: #0b0d10;
  --ok: #4cc17a;
  --warn: #e0a640;
  --bad: #ff7b72;
`;

/**
 * Design tokens as CSS custom properties (inherited through shadow roots). Light by default, dark
 * when the system prefers it or the user chose it (the `theme` attribute of <nullops-app>).
 */
export const tokens = css`
  :host {
    --bg: #f7f8fa;
    --panel: #ffffff;
    --text: #1b1f24;
    --muted: #5b6470;
    --border: #d8dde3;
    --accent: #2456d6;
    --accent-text: #ffffff;
    --ok: #1f7a3a;
    --warn: #9a6200;
    --bad: #b42318;
    --radius: 8px;
    --focus: 0 0 0 3px color-mix(in srgb, var(--accent) 40%, transparent);
    color: var(--text);
    font-family: system-ui, sans-serif;
  }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) {
      ${darkPalette}
    }
  }
  :host([theme='dark']) {
    ${darkPalette}
  }
`;

/** Controls and layout pieces shared by every page. */
export const shared = css`
  * {
    box-sizing: border-box;
  }
  a {
    color: var(--accent);
  }
  button,
  select,
  input {
    font: inherit;
    color: inherit;
  }
  button {
    border: 1px solid var(--border);
    background: var(--panel);
    border-radius: var(--radius);
    padding: 0.4rem 0.8rem;
    cursor: pointer;
  }
  button.primary {
    background: var(--accent);
    border-color: var(--accent);
    color: var(--accent-text);
  }
  button.danger {
    color: var(--bad);
  }
  button:disabled {
    opacity: 0.5;
    cursor: not-allowed;
  }
  button:focus-visible,
  a:focus-visible,
  input:focus-visible,
  select:focus-visible {
    outline: none;
    box-shadow: var(--focus);
  }
  input,
  select {
    border: 1px solid var(--border);
    background: var(--panel);
    border-radius: var(--radius);
    padding: 0.4rem 0.6rem;
    min-width: 0;
  }
  .panel {
    background: var(--panel);
    border: 1px solid var(--border);
    border-radius: var(--radius);
    padding: 1rem;
  }
  .error {
    color: var(--bad);
  }
  .muted {
    color: var(--muted);
  }
  .row {
    display: flex;
    gap: 0.5rem;
    align-items: center;
    flex-wrap: wrap;
  }
  .state {
    display: inline-block;
    padding: 0.1rem 0.5rem;
    border-radius: 999px;
    font-size: 0.85em;
    border: 1px solid currentColor;
  }
  .state.running {
    color: var(--ok);
  }
  .state.failed,
  .state.offline,
  .state.crashed,
  .state.missing {
    color: var(--bad);
  }
  .state.unhealthy,
  .state.degraded,
  .state.restarting {
    color: var(--warn);
  }
  .state.deploying,
  .state.pending,
  .state.deleting {
    color: var(--warn);
  }
  table {
    width: 100%;
    border-collapse: collapse;
  }
  th,
  td {
    text-align: left;
    padding: 0.5rem;
    border-bottom: 1px solid var(--border);
    vertical-align: top;
  }
  @media (max-width: 640px) {
    .hide-narrow {
      display: none;
    }
  }
`;
