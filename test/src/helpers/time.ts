/**
 * Time in the test suite. Tests wait for conditions, never for time; what may differ between a
 * quiet laptop and a 2-core CI machine with every core busy is only how long a condition may take
 * to come true. That is one setting, `NULLOPS_TEST_TIME_SCALE` (default 1): every deadline below,
 * ava's own timeout (scripts/run-tests.mjs) and the Kubernetes fake's simulated controllers and
 * kubelet are multiplied by it.
 */
const raw = process.env.NULLOPS_TEST_TIME_SCALE ?? '1';
const parsed = Number(raw);
if (!Number.isFinite(parsed) || parsed < 1 || parsed > 20)
  throw new Error(`NULLOPS_TEST_TIME_SCALE must be a number from 1 to 20, not "${raw}"`);

/** The suite's time scale. */
export const TIME_SCALE = parsed;

/** A duration of the suite (a deadline, a simulated delay) on the suite's time scale. */
export const scaled = (ms: number): number => Math.round(ms * TIME_SCALE);

/**
 * How long any one condition may take to come true before its test fails: a deployment reaching a
 * state, a node going online, a container vanishing. One deadline for the whole suite.
 */
export const DEADLINE_MS = scaled(90_000);

/**
 * Polls until `check` returns a truthy value, or fails with `what` (and the last error `check`
 * threw) once the deadline has passed.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false | null>,
  timeoutMs = DEADLINE_MS,
): Promise<T> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
