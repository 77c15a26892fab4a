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
