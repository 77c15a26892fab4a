/** Times as the reader reads them: in their own time zone and format. */

/** ISO times in a message (an expiry, say), in the reader's own time and format. */
export function localTimes(message: string): string {
  return message.replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b/g, (iso) =>
    new Date(iso).toLocaleString(),
  );
}

/** A log line's time in the reader's own clock, to the second (its full time is its title). */
export function timeOfDay(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString([], { hour12: false });
}
