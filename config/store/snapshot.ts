import { isDeepStrictEqual } from 'node:util';
import { CONFIG_KINDS, configKey, type ConfigKind, type ConfigObject } from '../model.js';
import type { KindChanges } from './types.js';

type KindMap = ReadonlyMap<string, ConfigObject>;

const EMPTY: KindMap = new Map();

function byNamespaceThenName(a: ConfigObject, b: ConfigObject): number {
  const an = a.metadata.namespace;
  const bn = b.metadata.namespace;
  if (an !== bn) return an < bn ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/**
 * One immutable view of the config. A change copies only the map of the kinds it touches; the other
 * kinds' maps and every unchanged object are shared with the previous snapshot, so a snapshot costs
 * O(objects of the changed kinds) and translation can keep reading an old one while a new one exists.
 */
export class ConfigSnapshot {
  private readonly sorted = new Map<ConfigKind, readonly ConfigObject[]>();

  constructor(
    private readonly kinds: ReadonlyMap<ConfigKind, KindMap> = new Map(),
    /** increases by one per change */
    readonly revision = 0,
  ) {}

  list(kind: ConfigKind): readonly ConfigObject[] {
    let list = this.sorted.get(kind);
    if (!list) {
      list = Object.freeze([...(this.kinds.get(kind) ?? EMPTY).values()].sort(byNamespaceThenName));
      this.sorted.set(kind, list);
    }
    return list;
  }

  get(kind: ConfigKind, namespace: string, name: string): ConfigObject | undefined {
    return this.kinds.get(kind)?.get(`${kind}/${namespace}/${name}`);
  }

  /** the objects of one kind, keyed by configKey */
  byKey(kind: ConfigKind): KindMap {
    return this.kinds.get(kind) ?? EMPTY;
  }

  /** the number of objects of all kinds */
  get size(): number {
    let n = 0;
    for (const m of this.kinds.values()) n += m.size;
    return n;
  }

  /**
   * Applies upserts and deletions (pure; a key is in one of the two, never both). An upsert equal to
   * the object in force is no change. Returns the same snapshot when nothing changed.
   */
  apply(upserts: Iterable<ConfigObject>, deletes: Iterable<string>): { snapshot: ConfigSnapshot; kinds: Partial<Record<ConfigKind, KindChanges>> } {
    const touched = new Map<ConfigKind, Map<string, ConfigObject>>();
    const changes: Partial<Record<ConfigKind, KindChanges>> = {};
    const mapFor = (kind: ConfigKind): Map<string, ConfigObject> => {
      let m = touched.get(kind);
      if (!m) {
        m = new Map(this.kinds.get(kind) ?? EMPTY);
        touched.set(kind, m);
      }
      return m;
    };
    const note = (kind: ConfigKind, what: keyof KindChanges, key: string): void => {
      (changes[kind] ??= { added: [], updated: [], deleted: [] })[what].push(key);
    };
    for (const o of upserts) {
      const key = configKey(o);
      const old = (touched.get(o.kind) ?? this.kinds.get(o.kind))?.get(key);
      if (old !== undefined && (old === o || isDeepStrictEqual(old, o))) continue;
      mapFor(o.kind).set(key, o);
      note(o.kind, old === undefined ? 'added' : 'updated', key);
    }
    for (const key of deletes) {
      const kind = key.slice(0, key.indexOf('/')) as ConfigKind;
      if (!(touched.get(kind) ?? this.kinds.get(kind))?.has(key)) continue;
      mapFor(kind).delete(key);
      note(kind, 'deleted', key);
    }
    if (Object.keys(changes).length === 0) return { snapshot: this, kinds: changes };
    const next = new Map(this.kinds);
    for (const [kind, m] of touched) next.set(kind, m);
    for (const c of Object.values(changes)) {
      c.added.sort();
      c.updated.sort();
      c.deleted.sort();
    }
    return { snapshot: new ConfigSnapshot(next, this.revision + 1), kinds: changes };
  }

  /** The upserts and deletions that turn this snapshot into `desired` (all kinds). Pure. */
  diffTo(desired: ReadonlyMap<string, ConfigObject>): { upserts: ConfigObject[]; deletes: string[] } {
    const upserts: ConfigObject[] = [];
    const deletes: string[] = [];
    for (const { kind } of CONFIG_KINDS) {
      for (const key of (this.kinds.get(kind) ?? EMPTY).keys()) if (!desired.has(key)) deletes.push(key);
    }
    for (const o of desired.values()) upserts.push(o);
    return { upserts, deletes };
  }
}
