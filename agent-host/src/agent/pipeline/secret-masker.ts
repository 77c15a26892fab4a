/** What a secret value is replaced with. */
export const MASK = '••••••';

/**
 * Masks secret values in text that leaves the agent (step messages, errors, log lines), as CI
 * systems mask theirs: the resolved `${secret:…}` values and registry passwords of a run, and the
 * outputs its components declare `secret` once they exist — each also URL- and base64-encoded, the
 * forms a connection string or an auth header puts them in. Values shorter than four characters
 * are left alone: masking every "1" would make logs unreadable and protect nothing.
 */
export class SecretMasker {
  private values: string[] = [];

  constructor(values: Iterable<string> = []) {
    for (const value of values) this.add(value);
  }

  add(value: unknown): void {
    if (typeof value !== 'string' || value.length < 4) return;
    for (const form of [value, encodeURIComponent(value), Buffer.from(value).toString('base64')])
      if (!this.values.includes(form)) this.values.push(form);
    // Longest first, so a secret that contains another is masked whole.
    this.values.sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let masked = text;
    for (const value of this.values) if (masked.includes(value)) masked = masked.split(value).join(MASK);
    return masked;
  }

  /** Whether a value holds any secret (the state file keeps no such value). */
  holdsSecret(text: string): boolean {
    return this.values.some((v) => text.includes(v));
  }
}
