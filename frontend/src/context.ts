import { createContext } from '@lit/context';
import type { Access, Api, User } from './api.js';

/** What every page can ask for with `@consume`: the API client, the signed-in user and their access. */
export const apiContext = createContext<Api>(Symbol('nullops-api'));
export const sessionContext = createContext<Session | undefined>(Symbol('nullops-session'));

export interface Session {
  user: User;
  access: Access;
}

/** The caller's level on a deployment: the lower of its project's and its environment's. */
export function deploymentLevel(
  session: Session | undefined,
  d: { projectId: string; environmentId: string },
): 'read' | 'full' | 'none' {
  if (!session) return 'none';
  if (session.access.admin) return 'full';
  const p = session.access.projects[d.projectId];
  const e = session.access.environments[d.environmentId];
  if (!p || !e) return p || e ? 'read' : 'none';
  return p === 'full' && e === 'full' ? 'full' : 'read';
}
