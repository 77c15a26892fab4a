/**
 * At most `limit` holders at a time; the others wait their turn, first come first served. Each
 * `enter` gives a release that may be called more than once (only the first counts).
 */
export class DialGate {
  private inside = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async enter(): Promise<() => void> {
    if (this.inside >= this.limit) await new Promise<void>((turn) => this.waiting.push(turn));
    else this.inside++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next in line (so `inside` stays as it is).
      if (next) next();
      else this.inside--;
    };
  }
}
