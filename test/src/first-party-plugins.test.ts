import test from 'ava';
import { ApiClient } from './helpers/api-client.js';
import { launchBrowser, screenshot, signIn } from './helpers/browser.js';
import { docker, ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { STACK_PASSWORD, type Stack, startStack } from './helpers/stack.js';

// First-party plugins together, as a platform engineer would wire them: a PostgreSQL database for
// the deployment, a SQL script against its connection string (an output reference), a service
// that reads the rows, and an HTTP check that waits for it.

const POSTGRES_IMAGE = 'nullops-test/postgres:15';
let s: Stack;

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    // The reader answers /cgi-bin/rows with the rows of `greetings`, read with psql.
    prepare: (registry) =>
      registry.pushBuilt(
        'team/reader',
        'v1',
        [
          `FROM ${POSTGRES_IMAGE}`,
          // CGI headers end in CRLF (Node's HTTP parser is strict about it).
          `RUN mkdir -p /www/cgi-bin && printf '#!/bin/sh\\nprintf "Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n"\\npsql "$DATABASE_URL" -At -c "select name from greetings order by id" 2>&1\\n' > /www/cgi-bin/rows && chmod 755 /www/cgi-bin/rows`,
          'ENTRYPOINT []',
          'CMD ["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]',
          '',
        ].join('\n'),
      ),
    services: [{ name: 'reader', image: 'team/reader', tag: 'v1' }],
    users: [{ name: 'viewer', access: 'read' }],
  });
});

test.after.always(async () => {
  await s?.stop();
});

test.serial(
  'PostgreSQL database + SQL script + container service + HTTP check: the service reads the rows the script inserted',
  async (t) => {
    const saved = await s.savePipeline({
      nodes: [
        {
          id: 'db',
          type: 'postgres.database',
          params: { image: POSTGRES_IMAGE, database: 'shop', user: 'shop' },
        },
        {
          id: 'schema',
          type: 'postgres.sql',
          params: {
            connectionString: '${output:db.connectionString}',
            image: POSTGRES_IMAGE,
            sql: "create table greetings (id serial primary key, name text not null); insert into greetings (name) values ('alpha'), ('beta');",
          },
        },
        {
          id: 'reader',
          type: 'docker.service', // the former name still resolves to container.service
          params: { service: 'reader', port: 8080, env: { DATABASE_URL: '${output:db.connectionString}' } },
        },
        { id: 'ready', type: 'http.check', params: { service: 'reader', port: 8080, path: '/cgi-bin/rows' } },
      ],
      edges: [
        { from: 'db', to: 'schema' },
        { from: 'schema', to: 'reader' },
        { from: 'reader', to: 'ready' },
      ],
    });
    t.deepEqual(Object.keys(saved.plugins).sort(), [
      '@nullops/plugin-container-service',
      '@nullops/plugin-http-check',
      '@nullops/plugin-postgres',
      '@nullops/plugin-sql-script',
    ]);
    const id = await s.deploy('rows');
    const running = await s.until(id, 'running');
    t.deepEqual(running.services.map((x: { name: string }) => x.name).sort(), ['db', 'reader']);
    // The deployment reserves what the whole pipeline starts: the project's budget (100m, 512 MiB)
    // plus the PostgreSQL server (500m, 256 MiB) and the SQL job (250m, 128 MiB).
    t.deepEqual(running.budget, { cpuMillicores: 850, memoryMb: 896 });
    const rows = await viaIngress(s.ingressPort, s.host('reader', 'rows'), '/cgi-bin/rows');
    t.is(rows.status, 200);
    t.deepEqual(rows.body.trim().split('\n'), ['alpha', 'beta']);

    // The generated database password is in no API answer or history entry, and sealed at rest.
    const dump = JSON.stringify(await s.cp.database.db('deployments').where('id', id).first());
    t.false(dump.includes('POSTGRES_PASSWORD'), 'service env is sealed in the database');
    const password = (await dockerEnv(id, 'db')).POSTGRES_PASSWORD as string;
    t.true(password.length >= 20);
    const history = JSON.stringify((await s.admin.get(`/api/deployments/${id}/history`)).body);
    t.false(history.includes(password), 'history never shows the password');
    t.false(JSON.stringify(running).includes(password));

    // The PostgreSQL plugin's control-plane route (behind its deployment-page panel): connection
    // details for full access only.
    const route = `/api/ext/@nullops/plugin-postgres/deployments/${id}/connection`;
    const details = await s.admin.expect(200, 'GET', route);
    t.like(details.databases[0], {
      service: 'db',
      host: 'db',
      port: 5432,
      database: 'shop',
      user: 'shop',
      password,
    });
    const viewer = await ApiClient.login(s.cp.url, 'viewer', STACK_PASSWORD);
    t.is((await viewer.get(route)).status, 403);
    t.false(JSON.stringify((await viewer.get(route)).body).includes(password));

    // And the panel itself, in a real browser.
    const browser = await launchBrowser();
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    await page.goto(`${s.cp.url}/deployments/${id}`);
    const panel = page.locator('section[data-plugin="@nullops/plugin-postgres"]');
    await panel.getByText('db:5432', { exact: true }).waitFor();
    t.false((await panel.innerText()).includes(password), 'hidden until asked');
    await panel.getByRole('button', { name: 'Show password' }).click();
    await panel.getByText(password, { exact: true }).waitFor();
    await screenshot(page, '11-postgres-panel');
  },
);

test.serial(
  'a secret in a failing SQL script is masked everywhere it could leak: error, step log, history, the read-only view, the logs',
  async (t) => {
    const value = 'never-show-me-4711';
    await s.admin.expect(201, 'POST', '/api/secrets', { name: 'LEAKY', value });
    await s.savePipeline({
      nodes: [
        { id: 'db', type: 'postgres.database', params: { image: POSTGRES_IMAGE } },
        {
          id: 'leak',
          type: 'postgres.sql',
          params: {
            connectionString: '${output:db.connectionString}',
            image: POSTGRES_IMAGE,
            // psql's error quotes the value back: "invalid input syntax for type integer: ..."
            sql: "select '${secret:LEAKY}'::int;",
          },
        },
      ],
      edges: [{ from: 'db', to: 'leak' }],
    });
    const id = await s.deploy('leaky-sql');
    const failed = await s.until(id, 'failed');
    t.is(failed.error.step, 'leak');
    t.regex(failed.error.message, /invalid input syntax for type integer: "••••••"/);
    const viewer = await ApiClient.login(s.cp.url, 'viewer', STACK_PASSWORD);
    const seen = [
      JSON.stringify(failed),
      JSON.stringify((await s.admin.get(`/api/deployments/${id}/history`)).body),
      JSON.stringify((await viewer.get(`/api/deployments/${id}`)).body),
      JSON.stringify((await viewer.get(`/api/deployments/${id}/history`)).body),
      JSON.stringify(await s.cp.database.db('deployment_events').where('deploymentId', id)),
      s.cp.logs.join('\n'),
      s.agent.lines.map((l) => JSON.stringify(l)).join('\n'),
    ].join('\n');
    t.false(seen.includes(value), 'the secret appears nowhere');
    t.true(seen.includes('••••••'), 'it was masked, not dropped');
    t.false(/LINE \d+:/.test(seen), 'psql does not echo the statement');
  },
);

test("a failing SQL script fails its step with psql's error and rolls the database back", async (t) => {
  await s.savePipeline({
    nodes: [
      { id: 'db', type: 'postgres.database', params: { image: POSTGRES_IMAGE } },
      {
        id: 'schema',
        type: 'postgres.sql',
        params: {
          connectionString: '${output:db.connectionString}',
          image: POSTGRES_IMAGE,
          sql: 'select * from missing_table;',
        },
      },
    ],
    edges: [{ from: 'db', to: 'schema' }],
  });
  const id = await s.deploy('bad-sql');
  const failed = await s.until(id, 'failed');
  t.is(failed.error.step, 'schema');
  t.regex(failed.error.message, /relation "missing_table" does not exist/);
  const history = (await s.admin.get(`/api/deployments/${id}/history`)).body.items.map(
    (h: { kind: string }) => h.kind,
  );
  t.true(history.includes('step.rolled-back'));
});

/** The environment a service container really got (what only the engine knows). */
async function dockerEnv(deploymentId: string, service: string): Promise<Record<string, string>> {
  const [found] = await docker.listContainers({
    filters: { label: [`dev.nullops.deployment=${deploymentId}`, `dev.nullops.service=${service}`] },
  });
  const info = await docker.getContainer(found?.Id as string).inspect();
  return Object.fromEntries(
    info.Config.Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
}

test('a service env value over what the agent protocol carries is refused when the pipeline is saved, naming it', async (t) => {
  const saved = await s.admin.request('POST', `/api/projects/${s.project.id}/pipeline/versions`, {
    graph: {
      nodes: [
        {
          id: 'reader',
          type: 'container.service',
          params: { service: 'reader', port: 8080, env: { SMALL: 'ok', HUGE: 'x'.repeat(70_000) } },
        },
      ],
      edges: [],
    },
  });
  t.is(saved.status, 400);
  t.regex(saved.body.error.message, /body\.graph\.nodes\.0\.params\.env\.HUGE: must be at most 64 KiB/);
  const saved70k = await s.cp.database.db('pipeline_versions').whereRaw("graph::text like '%HUGE%'");
  t.deepEqual(saved70k, [], 'nothing saved');
});
