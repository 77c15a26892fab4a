// `nullops login`: sign in, or store a token, for the commands after.

import { hostname } from 'node:os';
import type { Command } from 'commander';
import { Option } from 'commander';
import { read } from 'read';
import { Api, ApiError } from '../api.js';
import { saveCredentials } from '../config.js';
import { print } from '../output.js';

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('sign in to a control plane and store an API token for this user (in ~/.config/nullops)')
    .argument('<url>', 'the control plane, e.g. https://nullops.example.com')
    .option('-u, --username <name>', 'who signs in (asked for when not given)')
    .option('--token <token>', 'store this API token instead of signing in (e.g. one made in the UI)')
    .addOption(
      new Option('--access <level>', 'what the new token may do').choices(['read', 'full']).default('full'),
    )
    .option('--expires-in-days <days>', 'the new token expires after this many days', Number, 90)
    .action(async (rawUrl: string, o) => {
      const url = rawUrl.replace(/\/+$/, '');
      let token: string = o.token;
      if (!token) {
        const username = o.username ?? (await read({ prompt: 'username: ', output: process.stderr }));
        // Typed without echo (and nothing shown in its place) when on a terminal.
        const password =
          process.env.NULLOPS_PASSWORD ??
          (await read({ prompt: 'password: ', silent: true, replace: '', output: process.stderr }));
        const res = await new Api(url, {}).raw('POST', '/api/auth/login', { username, password });
        const body = (await res.json()) as { csrfToken?: string; error?: { message: string } };
        if (!res.ok) throw new ApiError(res.status, body.error?.message ?? `sign-in failed (${res.status})`);
        const cookie = res.headers
          .getSetCookie()
          .map((c) => c.split(';')[0])
          .join('; ');
        const session = new Api(url, { cookie, ...(body.csrfToken ? { csrf: body.csrfToken } : {}) });
        ({ token } = await session.post<{ token: string }>('/api/auth/tokens', {
          name: `nullops CLI on ${hostname()}`.slice(0, 100),
          access: o.access,
          expiresInDays: o.expiresInDays,
        }));
      }
      const me = await new Api(url, { token }).get<{ user: { username: string } }>('/api/auth/me');
      const path = await saveCredentials({ url, token });
      print(`logged in to ${url} as ${me.user.username} (token stored in ${path})`, {
        url,
        username: me.user.username,
        path,
      });
    });
}
