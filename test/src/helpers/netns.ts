import { execFileSync } from 'node:child_process';

let hosts = 0;

/**
 * A host of its own on this machine: a network namespace joined to ours by a veth pair, so what
 * runs inside it (an agent) is reached over a real link that the test can cut without closing a
 * socket. Needs root, iproute2 and iptables (as CI has).
 */
export class NetnsHost {
  readonly name: string;
  /** Our end of the link, as the agent sees us. */
  readonly outsideIp: string;
  /** The namespace's address: where the control plane dials the agent. */
  readonly ip: string;
  private readonly outside: string;
  private readonly inside: string;

  private constructor(index: number) {
    const tag = `${process.pid % 10000}x${index}`;
    this.name = `nullops-${tag}`;
    this.outside = `vo${tag}`;
    this.inside = `vi${tag}`;
    const subnet = `10.251.${(process.pid + index) % 250}`;
    this.outsideIp = `${subnet}.1`;
    this.ip = `${subnet}.2`;
  }

  static create(): NetnsHost {
    if (process.getuid?.() !== 0)
      throw new Error(
        'the fault tests need root (network namespaces, iptables): run them as root, as CI does',
      );
    const host = new NetnsHost(++hosts);
    host.remove();
    const ip = (...args: string[]) => run('ip', ...args);
    ip('netns', 'add', host.name);
    ip('link', 'add', host.outside, 'type', 'veth', 'peer', 'name', host.inside);
    ip('link', 'set', host.inside, 'netns', host.name);
    ip('addr', 'add', `${host.outsideIp}/30`, 'dev', host.outside);
    ip('link', 'set', host.outside, 'up');
    host.exec('ip', 'addr', 'add', `${host.ip}/30`, 'dev', host.inside);
    host.exec('ip', 'link', 'set', host.inside, 'up');
    host.exec('ip', 'link', 'set', 'lo', 'up');
    host.exec('ip', 'route', 'add', 'default', 'via', host.outsideIp);
    // Docker drops forwarded traffic it did not set up; the agent in here must reach its containers.
    for (const dir of ['-i', '-o']) run('iptables', '-I', 'DOCKER-USER', dir, host.outside, '-j', 'ACCEPT');
    return host;
  }

  exec(...command: string[]): string {
    return run('ip', 'netns', 'exec', this.name, ...command);
  }

  /** A silent partition: every packet between us and the namespace is dropped; sockets stay open. */
  partition(): void {
    this.exec('iptables', '-A', 'INPUT', '-s', this.outsideIp, '-j', 'DROP');
    this.exec('iptables', '-A', 'OUTPUT', '-d', this.outsideIp, '-j', 'DROP');
  }

  heal(): void {
    this.exec('iptables', '-F');
  }

  /**
   * A slow link (token bucket, `tc tbf`) from the namespace's side, or none with 0. (`tc netem`
   * would add delay too, but not every kernel has it; the bucket is everywhere.)
   */
  throttle(kbit: number): void {
    quiet('ip', 'netns', 'exec', this.name, 'tc', 'qdisc', 'del', 'dev', this.inside, 'root');
    if (kbit)
      this.exec(
        'tc',
        'qdisc',
        'add',
        'dev',
        this.inside,
        'root',
        'tbf',
        'rate',
        `${kbit}kbit`,
        'burst',
        '4kb',
        'latency',
        '500ms',
      );
  }

  remove(): void {
    for (const dir of ['-i', '-o']) quiet('iptables', '-D', 'DOCKER-USER', dir, this.outside, '-j', 'ACCEPT');
    quiet('ip', 'netns', 'del', this.name);
    quiet('ip', 'link', 'del', this.outside);
  }
}

function run(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quiet(command: string, ...args: string[]): void {
  try {
    run(command, ...args);
  } catch {
    // already gone
  }
}
