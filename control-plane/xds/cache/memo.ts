import { LRUCache } from 'lru-cache';

/**
 * The one bound of the control plane's memos (per-proxy-input resources, per-proxy
 * views, interned subscriptions). Entries are keyed by what distinguishes proxies
 * (namespace, app ports, subscription), and a mesh has far fewer distinct ones than
 * proxies: 4096 covers a few thousand workload shapes while capping what a stream of
 * bogus node metadata could pin in memory. An evicted entry is rebuilt on demand.
 */
export const MEMO_MAX = 4096;

export function memo<K extends {}, V extends {}>(): LRUCache<K, V> {
  return new LRUCache<K, V>({ max: MEMO_MAX });
}
