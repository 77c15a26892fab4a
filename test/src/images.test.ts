import test from 'ava';
import { ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';

// What the user picked is what runs: a deployment runs the digest its tag pointed to when it was
// created; a tag pushed again later changes nothing of it until it is redeployed.

let s: Stack;

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'feature-x', 'first build'),
    services: [{ name: 'web', image: 'team/web', pattern: 'feature-*' }],
  });
  await s.savePipeline({
    nodes: [
      {
        id: 'web',
        type: 'container.service',
        params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
      },
    ],
    edges: [],
  });
});

test.after.always(async () => {
  await s?.stop();
});

const answer = async (name: string) => (await viaIngress(s.ingressPort, s.host('web', name))).body.trim();

test.serial(
  'a branch tag pushed again: earlier deployments keep their build, new ones and a redeploy get the new one',
  async (t) => {
    const first = await s.deploy('first', { web: 'feature-x' });
    const created = await s.until(first, 'running');
    t.regex(created.digests.web, /^sha256:[0-9a-f]{64}$/, 'the view says which digest runs');
    t.is(await answer('first'), 'first build');

    s.registry.pushWeb('team/web', 'feature-x', 'second build');
    const second = await s.deploy('second', { web: 'feature-x' });
    const next = await s.until(second, 'running');
    t.is(await answer('second'), 'second build', 'a new deployment runs what the tag is now');
    t.not(next.digests.web, created.digests.web);
    t.is(await answer('first'), 'first build', 'the earlier one still runs its own');
    const history = (await s.admin.get(`/api/deployments/${first}/history`)).body.items;
    t.true(
      history.some((h: { message: string | null }) =>
        h.message?.includes(`web feature-x (${created.digests.web.slice(0, 19)})`),
      ),
      'its history names tag and digest',
    );

    await s.admin.expect(202, 'POST', `/api/deployments/${first}/redeploy`);
    await eventually('the redeploy ran', async () => (await answer('first')) === 'second build');
    t.is((await s.get(first)).digests.web, next.digests.web, 'a redeploy resolves the tag again');
  },
);
