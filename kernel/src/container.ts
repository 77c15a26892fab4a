import 'reflect-metadata';
import { type DependencyContainer, type InjectionToken, container as rootContainer } from 'tsyringe';

// The one DI the hosts use: tsyringe, through here (CONTRIBUTING.md), so there is one copy of it
// and of its root container.
export { delay, inject, injectable, singleton } from 'tsyringe';
export type { DependencyContainer };
/** The process's root container (hosts make children of it: one per host, one per plugin). */
export { rootContainer };

/**
 * A typed DI token. Every injectable dependency is addressed by one of these, and every constructor
 * parameter says `@inject(ref)` explicitly (see CONTRIBUTING.md): that works whatever compiler
 * built the code, including a plugin bundled with esbuild.
 */
export type ServiceRef<T> = InjectionToken<T> & { readonly __service?: T };

/** Creates a typed token; `id` is namespaced, e.g. `core.logger`. */
export function serviceRef<T>(id: string): ServiceRef<T> {
  return Symbol.for(`nullops:${id}`) as ServiceRef<T>;
}

/** A fresh child of the root container: one per host process, one per plugin. */
export function createContainer(parent: DependencyContainer = rootContainer): DependencyContainer {
  return parent.createChildContainer();
}

/** A service with work of its own, begun when its host starts and ended when it stops. */
export interface Startable {
  start?(): unknown;
  /** Stops taking new work at once; the promise ends when the work it had is done. */
  stop?(): unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: any constructor tsyringe can build
export type ServiceClass = new (...args: any[]) => object;

/**
 * A host's services as one ordered list, which is its composition: each is registered once (a
 * singleton of the container), started in list order (each awaited: a later one may rely on an
 * earlier one's work), and stopped in reverse — every stop begun in reverse order, then all awaited
 * together, so work in flight in one (an effect waiting on an agent) ends while the others stop
 * under it.
 */
export function composeServices(container: DependencyContainer, services: readonly ServiceClass[]) {
  for (const service of services) container.registerSingleton(service);
  const instances = () => services.map((service) => container.resolve(service) as Startable);
  return {
    services,
    async start(): Promise<void> {
      for (const service of instances()) await service.start?.();
    },
    async stop(): Promise<void> {
      const stopped = await Promise.allSettled(
        instances()
          .reverse()
          .map((service) => service.stop?.()),
      );
      const failed = stopped.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
