import { cpus, freemem, loadavg, totalmem } from 'node:os';

/**
 * CPU and memory of the host from the OS. CPU percent is measured between two calls (the first
 * call after start reports since boot), across all cores: 100 = every core busy.
 */
export class HostMetrics {
  private last = sample();

  read() {
    const now = sample();
    const idle = now.idle - this.last.idle;
    const total = now.total - this.last.total;
    this.last = now;
    return {
      cpuPercent: total > 0 ? Math.max(0, Math.min(100, (1 - idle / total) * 100)) : 0,
      memoryUsedMb: Math.round((totalmem() - freemem()) / 1024 / 1024),
      memoryTotalMb: Math.round(totalmem() / 1024 / 1024),
      load1: loadavg()[0] ?? 0,
    };
  }
}

function sample() {
  let idle = 0;
  let total = 0;
  for (const cpu of cpus()) {
    idle += cpu.times.idle;
    total += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.idle + cpu.times.irq;
  }
  return { idle, total };
}
