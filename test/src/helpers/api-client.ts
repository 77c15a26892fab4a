/** A response as tests look at it. */
export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A small HTTP client for the control plane API, signed in with a session cookie (and its CSRF
 * token) or a bearer token, or anonymous.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly auth: { cookie?: string; csrf?: string; bearer?: string } = {},
  ) {}

  static anonymous(baseUrl: string): ApiClient {
    return new ApiClient(baseUrl);
  }

  static withToken(baseUrl: string, token: string): ApiClient {
    return new ApiClient(baseUrl, { bearer: token });
  }

  /** Signs in; throws with the server's message when that fails. */
  static async login(baseUrl: string, username: string, password: string): Promise<ApiClient> {
    const res = await fetch(`${baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = (await res.json()) as { csrfToken: string; error?: { message: string } };
    if (res.status !== 200)
      throw new Error(`login as ${username} failed: ${res.status} ${body.error?.message}`);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    return new ApiClient(baseUrl, { cookie, csrf: body.csrfToken });
  }

  /** The same credentials at another address (another replica of the same control plane). */
  at(baseUrl: string): ApiClient {
    return new ApiClient(baseUrl, this.auth);
  }

  /** The headers that carry these credentials (for a request made some other way). */
  credentials(): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.auth.cookie) h.cookie = this.auth.cookie;
    if (this.auth.csrf) h['x-csrf-token'] = this.auth.csrf;
    if (this.auth.bearer) h.authorization = `Bearer ${this.auth.bearer}`;
    return h;
  }

  /** The same session without its CSRF token (to show cross-site requests are refused). */
  withoutCsrf(): ApiClient {
    return new ApiClient(this.baseUrl, { cookie: this.auth.cookie });
  }

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    options: { headersOnly?: boolean } = {},
  ): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers, ...this.credentials() };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const controller = new AbortController();
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: h,
      body: payload,
      signal: controller.signal,
    });
    if (options.headersOnly && res.ok) {
      controller.abort();
      return { status: res.status, body: undefined as T, headers: res.headers };
    }
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body ?? {});
  }
  put<T = any>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body);
  }
  patch<T = any>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body ?? {});
  }
  delete<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }

  /** Like request, but fails the test unless the status is the expected one. */
  async expect<T = any>(status: number, method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request<T>(method, path, body);
    if (res.status !== status) {
      throw new Error(
        `${method} ${path}: expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`,
      );
    }
    return res.body;
  }
}
