import type { AccessLevels, SignedIn, User } from '@nullops/core/api-types';

export type { AccessLevels as Access, User };

/** An error answer of the API: `{error: {code, message, details}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: { issues?: { path: string; message: string }[] },
  ) {
    super(message);
  }
}

/**
 * The browser's API client: same-origin cookie session with the CSRF token on every mutation, or
 * an API token (embedded elements) sent as a bearer header. Errors become `ApiError`s whose
 * message is the API's own (it names the field).
 */
export class Api {
  csrfToken: string | null = null;
  /** Called when the session is gone (401), so the shell can show the login page. */
  onUnauthenticated: () => void = () => {};

  constructor(
    readonly baseUrl = '',
    private readonly token?: string,
  ) {}

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    else if (method !== 'GET' && this.csrfToken) headers['x-csrf-token'] = this.csrfToken;
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      credentials: this.token ? 'omit' : 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!response.ok) {
      if (response.status === 401 && !path.startsWith('/api/auth/login')) this.onUnauthenticated();
      const e = json?.error ?? {};
      throw new ApiError(
        response.status,
        e.code ?? 'error',
        e.message ?? `HTTP ${response.status}`,
        e.details,
      );
    }
    return json as T;
  }

  get<T = unknown>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = unknown>(path: string, body: unknown = {}) {
    return this.request<T>('POST', path, body);
  }
  put<T = unknown>(path: string, body: unknown = {}) {
    return this.request<T>('PUT', path, body);
  }

  delete<T = unknown>(path: string) {
    return this.request<T>('DELETE', path);
  }

  async login(username: string, password: string): Promise<void> {
    const result = await this.post<{ csrfToken: string }>('/api/auth/login', { username, password });
    this.csrfToken = result.csrfToken;
  }

  /** The signed-in user, or undefined. */
  async me(): Promise<User | undefined> {
    try {
      const me = await this.get<SignedIn>('/api/auth/me');
      this.csrfToken = me.csrfToken;
      return me.user;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return undefined;
      throw err;
    }
  }

  /** A server-sent event stream of this API (same origin, cookie session). */
  events(path: string): EventSource {
    return new EventSource(`${this.baseUrl}${path}`, { withCredentials: true });
  }
}
