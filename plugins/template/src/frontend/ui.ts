// The plugin's web UI: an ES module the NullOps web UI loads at run time (package.json
// `nullops.frontend`, built by `tsc` like the rest), with no rebuild of NullOps. Its default
// export is called once with `nullops`; every extension it adds is named
// `<kind>:<this package>/<name>`, shows up under Admin → Extensions, and can be turned off or moved
// there by an administrator. Its types are the SDK's (`@nullops/plugin-sdk/frontend`): type
// imports only, so the browser loads nothing but this file.
import type { PluginApi, PluginUiHost } from '@nullops/plugin-sdk/frontend';

/** A page of its own, at /hello: the deployments the signed-in user can see. */
class HelloPage extends HTMLElement {
  private client: PluginApi | undefined;

  // Set by NullOps before the element is shown: the API client of the signed-in user.
  set api(api: PluginApi) {
    this.client = api;
    void this.load();
  }

  async load() {
    const { items } = await (this.client as PluginApi).get<{ items: { name: string; state: string }[] }>(
      '/api/deployments',
    );
    this.innerHTML = '<h1>Hello</h1><p class="count"></p><ul></ul>';
    (this.querySelector('.count') as HTMLElement).textContent =
      `Hello! You can see ${items.length} deployment(s).`;
    for (const d of items) {
      const li = document.createElement('li');
      li.textContent = `${d.name} (${d.state})`;
      this.querySelector('ul')?.append(li);
    }
  }
}

/** A tab of the deployment page: it gets `api`, `access` ('read' or 'full') and `deployment`. */
class HelloTab extends HTMLElement {
  access: 'read' | 'full' = 'read';

  set deployment(d: { name: string; services: unknown[] }) {
    this.textContent = `Hello, ${d.name}: ${d.services.length} service(s), and you have ${this.access} access.`;
  }
}

export default function register(nullops: PluginUiHost) {
  if (!customElements.get('acme-hello-page')) customElements.define('acme-hello-page', HelloPage);
  if (!customElements.get('acme-hello-tab')) customElements.define('acme-hello-tab', HelloTab);
  const { page, navItem, tab, nodeWidget } = nullops.blueprints;
  nullops.add(
    page({ name: 'hello', title: 'Hello', path: '/hello', element: 'acme-hello-page' }),
    navItem({ name: 'hello', title: 'Hello', path: '/hello' }),
    tab({ name: 'hello', title: 'Hello', element: 'acme-hello-tab' }),
    // Drawn on the pipeline editor's canvas, inside every `acme.hello` node: who it greets.
    nodeWidget({
      name: 'greeting',
      type: 'acme.hello',
      canvas: {
        height: 28,
        draw(ctx, { params, width, height }) {
          ctx.fillStyle = '#f5c542';
          ctx.fillRect(10, 2, width - 20, height - 4);
          ctx.fillStyle = '#222';
          ctx.font = '13px sans-serif';
          ctx.fillText(`greets ${params.name ?? 'nobody yet'}`, 16, height / 2 + 5);
        },
      },
    }),
  );
}
