import { memo } from '../../memo.js';

/** A subscription as streams hold it; `key` identifies equal subscriptions (same names, same wildcard). */
export interface Subscription {
  wildcard: boolean;
  names: ReadonlySet<string>;
  key: string;
}

// Proxies of one workload subscribe to the same names in the same order: intern by the
// raw list so that sorting and keying happen once, not once per proxy.
const interned = memo<string, Subscription>();

export function subscription(wildcard: boolean, names: Iterable<string>): Subscription {
  const list = [...names];
  const raw = `${wildcard ? '*' : ''}|${list.join('\n')}`;
  const hit = interned.get(raw);
  if (hit) return hit;
  const set = new Set(list);
  const sub = { wildcard, names: set, key: `${wildcard ? '*' : ''}|${[...set].sort().join('\n')}` };
  interned.set(raw, sub);
  return sub;
}
