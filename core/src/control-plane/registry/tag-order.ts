import picomatch from 'picomatch';
import semver from 'semver';

/**
 * Newest first: tags that read as versions (`1.2.3`, `v1.2`, `v2.0.0-rc.1`) by version, then every
 * other tag in reverse lexical order (so date-like tags also come newest first).
 */
export function sortTags(tags: string[]): string[] {
  const versioned: { tag: string; version: semver.SemVer }[] = [];
  const other: string[] = [];
  for (const tag of tags) {
    const version = semver.valid(tag.replace(/^v/i, ''), { loose: true })
      ? new semver.SemVer(tag.replace(/^v/i, ''), { loose: true })
      : semver.coerce(tag.replace(/^v/i, ''), { includePrerelease: true });
    // coerce() finds a version inside any string; only accept tags that are a version as a whole.
    if (version && /^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?$/i.test(tag)) versioned.push({ tag, version });
    else other.push(tag);
  }
  versioned.sort((a, b) => semver.rcompare(a.version, b.version) || b.tag.localeCompare(a.tag));
  other.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  return [...versioned.map((v) => v.tag), ...other];
}

/** Tags matching a service's glob pattern (`v*`, `release-1.2.*`, `{main,develop}`), newest first. */
export function selectTags(tags: string[], pattern: string): string[] {
  const matches = picomatch(pattern, { dot: true });
  return sortTags(tags.filter((tag) => matches(tag)));
}

/** A version tag with a pre-release part (`v2.0-rc1`, `1.4.0-beta.2`), as semver reads `-`. */
const PRERELEASE = /^v?\d+\.\d+(\.\d+)?-[0-9A-Za-z.-]+$/i;

/**
 * The tag a new deployment starts with, of tags sorted newest first: the newest that is not a
 * pre-release (those are offered, not chosen), else simply the newest.
 */
export function defaultTag(sorted: string[]): string | null {
  return sorted.find((tag) => !PRERELEASE.test(tag)) ?? sorted[0] ?? null;
}
