import { z } from 'zod';
import type { ContainerRegistry, Project, Service } from '../models/catalog.js';
import { displayText, dnsLabel, iso, QuotaView, quotaView, timestamp, uuid } from './common.js';
import { accessLevel } from './identity.js';

/** `https://host[:port][/path]`, no credentials in the URL (they go in username/password). */
export const registryUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(500)
  .refine((u) => {
    // zod runs refinements even after the URL check failed, so this must not throw on junk.
    const parsed = URL.canParse(u) ? new URL(u) : undefined;
    return !parsed || (!parsed.username && !parsed.password);
  }, 'must not contain credentials');

export const RegistryView = z.object({
  id: uuid,
  name: z.string(),
  url: z.string(),
  username: z.string().nullable(),
  hasPassword: z.boolean().describe('the password itself is never returned'),
  builtin: z.boolean(),
  createdAt: timestamp,
});

export function registryView(r: ContainerRegistry): z.infer<typeof RegistryView> {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    username: r.username,
    hasPassword: r.passwordEnc !== null,
    builtin: r.builtin,
    createdAt: iso(r.createdAt) as string,
  };
}

/** An image repository name as the OCI distribution spec allows, e.g. `team/app`. */
export const imageName = z
  .string()
  .max(255)
  .regex(
    /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/,
    'must be an image name such as team/app (lowercase)',
  );

/** An OCI tag: no `/`, so a pattern like `features/*` is written `features-*`. */
export const imageTag = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image tag (letters, digits, _ . -)');

export const tagPattern = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.*?\-[\]{},!]+$/, 'must be a glob over tags, e.g. v* or release-1.2.*');

export const ServiceView = z.object({
  id: uuid,
  name: z.string(),
  description: z.string().nullable(),
  registryId: uuid,
  image: z.string(),
  tagMode: z.enum(['pinned', 'selectable']),
  tag: z.string().nullable(),
  tagPattern: z.string().nullable(),
  createdAt: timestamp,
});

export function serviceView(s: Service): z.infer<typeof ServiceView> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    registryId: s.registryId,
    image: s.image,
    tagMode: s.tagMode,
    tag: s.tag,
    tagPattern: s.tagPattern,
    createdAt: iso(s.createdAt) as string,
  };
}

export const serviceFields = {
  name: dnsLabel,
  description: displayText(500).nullable(),
  registryId: uuid,
  image: imageName,
  tagMode: z.enum(['pinned', 'selectable'], { error: 'must be pinned or selectable' }),
  tag: imageTag.nullable(),
  tagPattern: tagPattern.nullable(),
};

/** Team assignments of a project or environment; one entry per team. */
export const teamAssignments = z
  .array(z.object({ teamId: uuid, access: accessLevel }).strict())
  .max(200)
  .refine((list) => new Set(list.map((a) => a.teamId)).size === list.length, 'must name each team once');

export const TeamAssignmentView = z.object({ teamId: uuid, teamName: z.string(), access: accessLevel });

export const ProjectView = z.object({
  id: uuid,
  name: z.string(),
  description: z.string().nullable(),
  cpuMillicores: z.number().describe('CPU budget of one deployment, in thousandths of a core'),
  memoryMb: z.number().describe('memory budget of one deployment, in MiB'),
  ttlSeconds: z.number().nullable().describe("overrides the environment's auto-cleanup TTL"),
  backupLimit: z.number().describe('how many backups it keeps'),
  backupRetentionDays: z.number().describe('for how many days (also after their deployment is gone)'),
  securityProfile: z
    .enum(['baseline', 'restricted'])
    .describe("how strictly its services' containers are confined (a pipeline node may say otherwise)"),
  egressAllow: z
    .array(z.string())
    .describe('networks (CIDRs) its deployments may reach besides the internet, on Kubernetes'),
  quota: QuotaView,
  createdAt: timestamp,
});

export function projectView(p: Project): z.infer<typeof ProjectView> {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    cpuMillicores: p.cpuMillicores,
    memoryMb: p.memoryMb,
    ttlSeconds: p.ttlSeconds,
    backupLimit: p.backupLimit,
    backupRetentionDays: p.backupRetentionDays,
    securityProfile: p.securityProfile,
    egressAllow: p.egressAllow ?? [],
    quota: quotaView(p),
    createdAt: iso(p.createdAt) as string,
  };
}

/** What a compose import carried over, and what not (POST /api/projects/import). */
export const ComposeImportReport = z.object({
  projectName: z.string(),
  services: z.array(
    z.object({
      name: z.string(),
      composeName: z.string(),
      registryId: uuid,
      registryName: z.string(),
      image: z.string(),
      tagMode: z.enum(['pinned', 'selectable']),
      tag: z.string().nullable(),
      tagPattern: z.string().nullable(),
      existingId: uuid.nullable(),
      mapped: z.array(z.string()).describe('compose keys carried over'),
      notes: z.array(z.string()),
    }),
  ),
  budget: z.object({ cpuMillicores: z.number(), memoryMb: z.number(), from: z.string() }),
  graph: z.unknown().describe('the pipeline the import saves as version 1'),
  unmapped: z
    .array(z.object({ path: z.string(), reason: z.string() }))
    .describe('every key of the file that was not carried over, and why'),
});
