/** Matches `/deployments/:id` against a path; returns the decoded params or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(got[i] as string);
    else if (w !== got[i]) return undefined;
  }
  return params;
}

/**
 * Client-side navigation with the History API: same-origin link clicks (also inside shadow roots)
 * change the URL without a reload, and `onChange` re-renders the matching route.
 */
export class Router {
  constructor(private readonly onChange: () => void) {
    window.addEventListener('popstate', () => this.onChange());
    document.addEventListener('click', (event) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey)
        return;
      const anchor = event.composedPath().find((n): n is HTMLAnchorElement => n instanceof HTMLAnchorElement);
      if (!anchor || anchor.target || anchor.origin !== location.origin || anchor.hasAttribute('download'))
        return;
      event.preventDefault();
      this.go(anchor.pathname + anchor.search);
    });
  }

  go(path: string): void {
    if (path !== location.pathname + location.search) history.pushState(null, '', path);
    this.onChange();
  }
}
