import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { RuntimeOwner } from '@nullops/plugin-sdk';

const exec = promisify(execFile);

/** `auto`: isolate where this agent can (and say so where it cannot); `required`: refuse to run without; `off`. */
export type HostIsolation = 'auto' | 'required' | 'off';

/** One deployment network's bridge on the host. */
export interface DeploymentBridge {
  deploymentId: string;
  bridge: string;
}

const FAMILIES = ['iptables', 'ip6tables'] as const;
type Family = (typeof FAMILIES)[number];

/**
 * Keeps deployments off the host's own ports. A container reaches its host at its network's
 * gateway, where the control plane, the ingress (and through it every deployment), this agent and
 * whatever else the host runs listen. So each deployment bridge gets a rule in the host's INPUT
 * chain that refuses every connection a container opens to the host; replies to connections the
 * host opens (the edge, health checks) still pass, and containers still reach each other and the
 * internet (that traffic is forwarded, not input).
 *
 * Docker's DOCKER-USER chain sees forwarded traffic only, which is why the rule is in INPUT. Each
 * rule's comment names its installation, node and deployment: an agent adds, checks and removes
 * its own rules only, never another installation's or node's on the same host.
 */
export class HostFirewall {
  private families: Promise<Family[]> | undefined;
  /** Why isolation is not in force here; undefined while it is. */
  private reason: string | undefined;

  constructor(
    private readonly mode: HostIsolation,
    private readonly owner: () => RuntimeOwner,
  ) {}

  /** Undefined when deployments are kept off the host; otherwise why not (for the log and the README's advice). */
  async unavailable(): Promise<string | undefined> {
    await this.usable();
    return this.reason;
  }

  /** Adds the rule for a deployment's bridge (of a network that exists now), unless there. */
  async protect(target: DeploymentBridge, listed = false): Promise<void> {
    const families = await this.usable();
    if (!families.length) return;
    // A listed network may have been removed since; one that was just inspected has a bridge, and
    // when this process cannot see it, it is not in the host's network namespace: rules here would
    // guard nothing.
    if (!(await exists(target.bridge))) {
      if (listed) return;
      this.off(
        `this agent does not see the host's network interfaces (${target.bridge}): run it in the host's network namespace (docker run --network host --cap-add NET_ADMIN) to isolate deployments`,
      );
      return;
    }
    for (const family of families) {
      const rule = this.rule(target);
      if (
        !(await iptables(family, ['-C', 'INPUT', ...rule]).then(
          () => true,
          () => false,
        ))
      )
        await iptables(family, ['-I', 'INPUT', ...rule]);
    }
  }

  /** Removes the rule for a deployment whose network went. */
  async release(deploymentId: string): Promise<void> {
    for (const [family, bridges] of await this.rules())
      for (const target of bridges.filter((b) => b.deploymentId === deploymentId))
        await iptables(family, ['-D', 'INPUT', ...this.rule(target)]).catch(() => undefined);
  }

  /**
   * Puts the rules back as `bridges` (this owner's deployment networks) say: missing ones added
   * (after a host reboot or a firewall reload), and ones whose bridge is gone from the host (a
   * network removed behind the agent's back) removed. A rule whose bridge still exists stays even
   * when not listed: its network may have been made after the list was read.
   */
  async sync(bridges: DeploymentBridge[]): Promise<void> {
    if (!(await this.usable()).length) return;
    const wanted = new Set(bridges.map((b) => `${b.deploymentId}/${b.bridge}`));
    for (const [family, present] of await this.rules())
      for (const target of present)
        if (!wanted.has(`${target.deploymentId}/${target.bridge}`) && !(await exists(target.bridge)))
          await iptables(family, ['-D', 'INPUT', ...this.rule(target)]).catch(() => undefined);
    for (const bridge of bridges) await this.protect(bridge, true);
  }

  private rule(target: DeploymentBridge): string[] {
    return [
      '-i',
      target.bridge,
      '-m',
      'conntrack',
      '!',
      '--ctstate',
      'ESTABLISHED,RELATED',
      '-m',
      'comment',
      '--comment',
      `${this.tag()}:${target.deploymentId}`,
      '-j',
      'REJECT',
    ];
  }

  private tag(): string {
    const { installationId, nodeId } = this.owner();
    return `nullops:${installationId}:${nodeId}`;
  }

  /** This owner's rules, per family, as `iptables -S` lists them. */
  private async rules(): Promise<[Family, DeploymentBridge[]][]> {
    const tag = this.tag();
    const found: [Family, DeploymentBridge[]][] = [];
    for (const family of await this.usable()) {
      const { stdout } = await iptables(family, ['-S', 'INPUT']);
      const bridges: DeploymentBridge[] = [];
      for (const line of stdout.split('\n')) {
        const match = /^-A INPUT -i (\S+) .*--comment "?([^"\s]+)"?/.exec(line);
        const comment = match?.[2];
        if (match?.[1] && comment?.startsWith(`${tag}:`))
          bridges.push({ bridge: match[1], deploymentId: comment.slice(tag.length + 1) });
      }
      found.push([family, bridges]);
    }
    return found;
  }

  private usable(): Promise<Family[]> {
    this.families ??= (async () => {
      if (this.mode === 'off') {
        this.reason = 'turned off (NULLOPS_HOST_ISOLATION=off)';
        return [];
      }
      const usable: Family[] = [];
      let why = '';
      for (const family of FAMILIES) {
        try {
          await iptables(family, ['-S', 'INPUT']);
          usable.push(family);
        } catch (err) {
          why ||= (err as Error).message.split('\n')[0] ?? '';
        }
      }
      if (!usable.includes('iptables'))
        this.reason = `iptables cannot change this host's firewall from here (${why.trim() || 'not found'})`;
      return usable.includes('iptables') ? usable : [];
    })();
    return this.families.then((families) => (this.reason ? [] : families));
  }

  private off(reason: string): void {
    this.reason = reason;
  }
}

const exists = (bridge: string) =>
  access(`/sys/class/net/${bridge}`).then(
    () => true,
    () => false,
  );

function iptables(family: Family, args: string[]) {
  // -w: wait for the xtables lock (dockerd changes rules too) instead of failing.
  return exec(family, ['-w', '5', ...args], { timeout: 15_000 });
}
