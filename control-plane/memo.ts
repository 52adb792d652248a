import { LRUCache } from 'lru-cache';

/**
 * The one bound of the control plane's memos whose keys come from outside (proxy
 * inputs, views and subscriptions from xDS requests, `@type` names from config).
 * A mesh has far fewer distinct ones than proxies: 4096 covers a few thousand
 * workload shapes while capping what a stream of bogus node metadata or config could
 * pin in memory. An evicted entry is rebuilt on demand. (Memos keyed by objects use
 * WeakMaps, which their keys bound; the virtual-host cache holds the live
 * configuration, see xds/cache/vhosts.ts.)
 */
export const MEMO_MAX = 4096;

export function memo<K extends {}, V extends {}>(): LRUCache<K, V> {
  return new LRUCache<K, V>({ max: MEMO_MAX });
}
