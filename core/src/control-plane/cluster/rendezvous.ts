import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: the owner of `key` among `members` is the one whose
 * hash with the key is highest. Every replica computes the same owner from the same members, keys
 * spread evenly, and a member joining or leaving moves only the keys it gains or held.
 */
export function ownerOf(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const member of members) {
    const weight = createHash('sha256').update(`${member}\0${key}`).digest().readBigUInt64BE(0);
    if (weight > bestWeight) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}
