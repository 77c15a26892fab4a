import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { InputError, UnprocessableError } from '@nullops/plugin-sdk';
import { ComposeProblem, expandCompose } from './compose-expansion.js';

/** A worker's memory and time for one file: plenty for any real compose file, little for a bomb. */
const WORKER_HEAP_MB = 128;
const WORKER_TIME_MS = 10_000;

interface Job {
  text: string;
  variables: Record<string, string>;
  field: string;
}
type Outcome =
  | { ok: true; value: unknown; missing: string[] }
  | { ok: false; field: string; message: string; limit: boolean };

// In the worker: expand the one file it was given and say how it went.
if (!isMainThread && (workerData as { composeReader?: boolean })?.composeReader) {
  const job = (workerData as { job: Job }).job;
  let outcome: Outcome;
  try {
    outcome = { ok: true, ...expandCompose(job.text, job.variables, job.field) };
  } catch (err) {
    outcome =
      err instanceof ComposeProblem
        ? { ok: false, field: err.field, message: err.message, limit: err.limit }
        : {
            ok: false,
            field: job.field,
            message: `could not be read: ${(err as Error).message}`,
            limit: false,
          };
  }
  parentPort?.postMessage(outcome);
}

/**
 * Expands a compose file (expandCompose) in a worker thread with a bounded heap and a deadline: a
 * file that would take the control plane's memory or time is refused (422, naming the limit)
 * while every other request goes on being answered.
 */
export function readComposeInWorker(
  text: string,
  variables: Record<string, string>,
  field = 'compose',
): Promise<{ value: unknown; missing: string[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { composeReader: true, job: { text, variables, field } satisfies Job },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16 },
    });
    const tooMuch = (what: string) =>
      new UnprocessableError(
        `${field}: ${what}; expanded (YAML aliases, variables) it would be far larger than the file`,
        { issues: [{ path: field, message: what }] },
      );
    let settled = false;
    const finish = (work: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      work();
    };
    const timer = setTimeout(
      () => finish(() => reject(tooMuch(`took more than ${WORKER_TIME_MS / 1000} s to read`))),
      WORKER_TIME_MS,
    );
    worker.once('message', (outcome: Outcome) =>
      finish(() => {
        if (outcome.ok) return resolve({ value: outcome.value, missing: outcome.missing });
        reject(
          outcome.limit
            ? new UnprocessableError(`${outcome.field}: ${outcome.message}`, {
                issues: [{ path: outcome.field, message: outcome.message }],
              })
            : InputError.field(outcome.field, outcome.message),
        );
      }),
    );
    worker.once('error', (err) =>
      finish(() =>
        reject(
          /memory|heap/i.test(err.message)
            ? tooMuch(`needed more than ${WORKER_HEAP_MB} MiB to read`)
            : InputError.field(field, `could not be read: ${err.message}`),
        ),
      ),
    );
    worker.once('exit', () => finish(() => reject(tooMuch('could not be read'))));
  });
}
