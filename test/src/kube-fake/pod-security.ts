/**
 * Pod Security admission as a real API server enforces it (the `pod-security.kubernetes.io/enforce`
 * label of a pod's namespace), ported from the documented Pod Security Standards
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/, v1.28) for the controls a
 * pod of NullOps — or anything else a test sends — can touch. The message is the real one:
 * `violates PodSecurity "restricted:latest": <check> (<detail>), …`.
 */

export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

/** Capabilities `baseline` allows a container to add. */
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

/** Volume types `restricted` allows. */
const RESTRICTED_VOLUMES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];

// Pod specs are plain JSON here, as the API server sees them.
type Json = any;

/** The violations of `level` in a pod spec, as `check (detail)` strings; empty when it passes. */
export function podSecurityViolations(spec: Json, level: PodSecurityLevel): string[] {
  if (level === 'privileged') return [];
  const containers: Json[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const pod = spec.securityContext ?? {};
  const out: string[] = [];
  const names = (list: Json[]) => list.map((c) => `"${c.name}"`).join(', ');
  const which = (list: Json[]) => `${list.length > 1 ? 'containers' : 'container'} ${names(list)}`;

  // baseline
  const hostNs = ['hostNetwork', 'hostPID', 'hostIPC'].filter((k) => spec[k] === true);
  if (hostNs.length) out.push(`host namespaces (${hostNs.map((k) => `${k}=true`).join(', ')})`);
  const privileged = containers.filter((c) => c.securityContext?.privileged === true);
  if (privileged.length)
    out.push(`privileged (${which(privileged)} must not set securityContext.privileged=true)`);
  const extraCaps = containers.filter((c) =>
    (c.securityContext?.capabilities?.add ?? []).some((cap: string) => !BASELINE_CAPABILITIES.has(cap)),
  );
  if (level === 'baseline' && extraCaps.length)
    out.push(
      `non-default capabilities (${which(extraCaps)} must not include capabilities beyond the baseline set)`,
    );
  const hostPaths = (spec.volumes ?? []).filter((v: Json) => v.hostPath);
  if (hostPaths.length)
    out.push(`hostPath volumes (${hostPaths.map((v: Json) => `"${v.name}"`).join(', ')})`);
  const hostPorts = containers.filter((c) => (c.ports ?? []).some((p: Json) => p.hostPort));
  if (hostPorts.length) out.push(`hostPort (${which(hostPorts)} uses hostPort)`);
  const unconfined = [pod, ...containers.map((c) => c.securityContext ?? {})].some(
    (s) => s.seccompProfile?.type === 'Unconfined',
  );
  if (unconfined)
    out.push(
      'seccompProfile (pod or containers must not set securityContext.seccompProfile.type to "Unconfined")',
    );
  if (level === 'baseline') return out;

  // restricted
  const badVolumes = (spec.volumes ?? []).filter(
    (v: Json) => !Object.keys(v).some((k) => k !== 'name' && RESTRICTED_VOLUMES.includes(k)),
  );
  if (badVolumes.length)
    out.push(
      `restricted volume types (volumes ${badVolumes.map((v: Json) => `"${v.name}"`).join(', ')} use restricted volume types)`,
    );
  const escalating = containers.filter((c) => c.securityContext?.allowPrivilegeEscalation !== false);
  if (escalating.length)
    out.push(
      `allowPrivilegeEscalation != false (${which(escalating)} must set securityContext.allowPrivilegeEscalation=false)`,
    );
  const capsNotDropped = containers.filter(
    (c) => !(c.securityContext?.capabilities?.drop ?? []).includes('ALL'),
  );
  const capsAdded = containers.filter((c) =>
    (c.securityContext?.capabilities?.add ?? []).some((cap: string) => cap !== 'NET_BIND_SERVICE'),
  );
  if (capsNotDropped.length || capsAdded.length) {
    const parts = [
      ...(capsNotDropped.length
        ? [`${which(capsNotDropped)} must set securityContext.capabilities.drop=["ALL"]`]
        : []),
      ...(capsAdded.length
        ? [
            `${which(capsAdded)} must not include ${[...new Set(capsAdded.flatMap((c) => c.securityContext.capabilities.add.filter((x: string) => x !== 'NET_BIND_SERVICE')))].map((x) => `"${x}"`).join(', ')} in securityContext.capabilities.add`,
          ]
        : []),
    ];
    out.push(`unrestricted capabilities (${parts.join('; ')})`);
  }
  const nonRoot = containers.filter((c) => (c.securityContext?.runAsNonRoot ?? pod.runAsNonRoot) !== true);
  if (nonRoot.length)
    out.push(
      `runAsNonRoot != true (${pod.runAsNonRoot === undefined ? `pod or ${which(nonRoot)}` : which(nonRoot)} must set securityContext.runAsNonRoot=true)`,
    );
  const rootUser = containers.filter((c) => (c.securityContext?.runAsUser ?? pod.runAsUser) === 0);
  if (rootUser.length) out.push(`runAsUser=0 (${which(rootUser)} must not set runAsUser=0)`);
  const seccompMissing = containers.filter((c) => {
    const type = c.securityContext?.seccompProfile?.type ?? pod.seccompProfile?.type;
    return type !== 'RuntimeDefault' && type !== 'Localhost';
  });
  if (seccompMissing.length)
    out.push(
      `seccompProfile (pod or ${which(seccompMissing)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
    );
  return out;
}

/** The level a namespace enforces (its `pod-security.kubernetes.io/enforce` label; none: privileged). */
export function enforcedLevel(labels: Record<string, string> | undefined): PodSecurityLevel {
  const value = labels?.['pod-security.kubernetes.io/enforce'];
  return value === 'baseline' || value === 'restricted' ? value : 'privileged';
}
