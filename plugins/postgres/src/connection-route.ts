import type { ControlPlaneContext } from '@nullops/plugin-sdk';

/**
 * `GET /api/ext/@nullops/plugin-postgres/deployments/:id/connection`: the connection details of a
 * deployment's PostgreSQL databases, for users with full access to it (the panel shows them).
 */
export function addConnectionRoute(ctx: ControlPlaneContext): void {
  ctx.routes.add({
    method: 'get',
    path: '/deployments/:id/connection',
    access: 'authenticated',
    // It hands out database passwords: every read is audited.
    sensitive: true,
    async handler(request) {
      const d = await ctx.deployments.get(String(request.params.id), request.user.id);
      if (!d) return { status: 404, body: { error: { code: 'not_found', message: 'deployment not found' } } };
      const databases = d.services.filter((s) => s.env.POSTGRES_PASSWORD !== undefined);
      if (!databases.length)
        return {
          status: 404,
          body: { error: { code: 'not_found', message: 'this deployment has no PostgreSQL database' } },
        };
      if (d.access !== 'full')
        return {
          status: 403,
          body: {
            error: { code: 'forbidden', message: 'connection details are shown to users with full access' },
          },
        };
      return {
        status: 200,
        body: {
          databases: databases.map((s) => {
            const user = s.env.POSTGRES_USER ?? 'postgres';
            const database = s.env.POSTGRES_DB ?? user;
            const password = s.env.POSTGRES_PASSWORD as string;
            return {
              service: s.name,
              host: s.name,
              port: 5432,
              database,
              user,
              password,
              connectionString: `postgres://${user}:${encodeURIComponent(password)}@${s.name}:5432/${database}`,
            };
          }),
        },
      };
    },
  });
}
