/** Where the CLI writes: results on stdout (human, or JSON for scripts), progress on stderr. */

export type Output = 'human' | 'json';
let format: Output = 'human';

/** Set once the global options are parsed (`--output`). */
export function setOutput(output: Output): void {
  format = output;
}

export const out = (): Output => format;

export function print(human: string, json: unknown): void {
  process.stdout.write(format === 'json' ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
}

/** Progress goes to stderr, so `--output json` leaves stdout to the result alone. */
export const progress = (line: string) => process.stderr.write(`${line}\n`);
