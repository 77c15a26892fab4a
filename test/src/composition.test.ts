import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONTROL_PLANE_SERVICES } from '@nullops/core';
import test from 'ava';
import { startTestControlPlane } from './helpers/test-control-plane.js';

// The control plane's composition is one ordered list (CONTROL_PLANE_SERVICES): every injectable
// service is in it, and each has exactly one instance — the one every other service was given.

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

test('every injectable class of the control plane is in its composition list', (t) => {
  const injectable = sourceFiles(resolve('core/src/control-plane')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/@injectable\(\)\s*export class (\w+)/g)].map((m) => m[1]),
  );
  t.true(injectable.length > 20, 'the scan finds the services');
  const listed = new Set(CONTROL_PLANE_SERVICES.map((service) => service.name));
  t.deepEqual(
    injectable.filter((name) => !listed.has(name as string)),
    [],
  );
  t.is(listed.size, CONTROL_PLANE_SERVICES.length, 'each is listed once');
});

/**
 * The same instance, or a lazy proxy of it (tsyringe's `delay`, for a dependency cycle), which
 * forwards every field: the same state objects (maps, caches) behind each field.
 */
function sameInstance(held: object, one: object): boolean {
  if (held === one) return true;
  const fields = Object.keys(one) as (keyof typeof one)[];
  return (
    fields.some((k) => typeof one[k] === 'object' && one[k] !== null) &&
    fields.every((k) => (held as typeof one)[k] === one[k])
  );
}

test('each service has exactly one instance: the one every other service holds', async (t) => {
  const testPlane = await startTestControlPlane();
  t.teardown(() => testPlane.close());
  const { container } = testPlane.cp;
  const instances = new Map(CONTROL_PLANE_SERVICES.map((service) => [service, container.resolve(service)]));
  let held = 0;
  for (const [service, instance] of instances) {
    t.is(container.resolve(service), instance, `${service.name} resolves to one instance`);
    // What it was given: a field holding any listed service must hold that service's one instance.
    for (const [field, value] of Object.entries(instance)) {
      const kind = CONTROL_PLANE_SERVICES.find((other) => value instanceof other);
      if (!kind) continue;
      held++;
      t.true(
        sameInstance(value, instances.get(kind) as object),
        `${service.name}.${field} is the one ${kind.name}`,
      );
    }
  }
  t.true(held > 20, `services hold each other (${held} links checked)`);
});
