import type { AccessLevel, Role } from '../models/identity.js';

/** The authenticated caller of a request. */
export interface Principal {
  userId: string;
  username: string;
  role: Role;
  via: 'session' | 'token';
  sessionId?: string;
  csrfToken?: string;
  tokenId?: string;
  /** What an API token is limited to (a session has the user's full rights). */
  tokenScope?: { access: AccessLevel; projectIds: string[] | null };
}
