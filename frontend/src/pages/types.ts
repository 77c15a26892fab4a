/** API shapes the pages use (see /api/openapi.json for the full ones). */
export interface Deployment {
  id: string;
  name: string;
  projectId: string;
  projectName: string;
  environmentId: string;
  environmentName: string;
  state: 'pending' | 'deploying' | 'running' | 'failed' | 'offline' | 'deleting' | 'deleted';
  stateMessage: string | null;
  error: { step: string | null; message: string } | null;
  tags: Record<string, string>;
  pipelineVersion: number | null;
  plugins: Record<string, string>;
  services: { name: string; url: string; status: string }[];
  createdBy: string | null;
  createdAt: string;
  expiresAt: string | null;
}

export interface Project {
  id: string;
  name: string;
  description: string | null;
}

export interface Environment {
  id: string;
  name: string;
  baseDomain: string;
}

export interface ServiceTags {
  name: string;
  image: string;
  tagMode: 'pinned' | 'selectable';
  defaultTag: string | null;
  tags: string[];
}
