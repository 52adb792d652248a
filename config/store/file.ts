import { watch, type FSWatcher } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../common/errors.js';
import { parseDocuments } from '../../common/documents.js';
import type { ConfigObject } from '../model.js';
import { admitDocument } from './admit.js';
import { BaseConfigStore } from './base.js';
import type { ConfigStoreDeps } from './types.js';

/**
 * The `file:PATH` source: a file, or a directory read recursively, of multi-document YAML (`.yaml`,
 * `.yml`, `.json`; names starting with "." are skipped: editor swap files, and the `..data` twin of a
 * mounted ConfigMap, whose files are read through their top-level symlinks). Every change under PATH
 * triggers a debounced rescan of the whole tree; a file whose text is unchanged is not parsed again.
 *
 * Rules (config/README.md):
 * - a document without metadata.namespace is in `default`, as `kubectl apply` would put it;
 * - an invalid object is refused, logged with file, document (from 1), kind/namespace/name and the
 *   problems, counted, and its last good version from that file stays in force;
 * - a file that is not valid YAML keeps all its last good objects;
 * - the same kind/namespace/name twice: the first in path order (then document order) wins, logged;
 * - PATH itself vanishing keeps everything in force (a deleted file inside PATH removes its objects);
 * - a file that becomes empty is believed one settle time later (writers truncate, then write).
 */

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * Unchanged files are not read again: a file whose stamp (inode, size, mtime, ctime in ns) is the one
 * of its last read is skipped, unless its mtime is within RACY_MS of the scan — a same-size rewrite
 * inside one timestamp tick would keep the stamp (git's "racily clean" rule). Measured on 1,000 files
 * (3,000 objects, 2 shared cores at load ~20, successive runs): an unchanged rescan took 1,434 ms reading
 * every file, 65-105 ms with stamps; an edit reached listeners in 127-158 ms (settle 50 ms).
 */
const RACY_MS = 2000;

interface Stamp {
  key: string;
  mtimeMs: number;
}

interface ListedFile {
  path: string;
  stamp: Stamp;
}

function stampOf(st: BigIntStats): Stamp {
  return { key: `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, mtimeMs: Number(st.mtimeMs) };
}

interface FileEntry {
  text: string;
  stamp: Stamp;
  /** accepted (or last good) objects of this file by configKey, with their 1-based document index */
  objects: Map<string, { object: ConfigObject; document: number }>;
}

export interface FileConfigStoreOptions extends ConfigStoreDeps {
  /** quiet time after a file event before rescanning, ms (editors write in several steps) */
  settleMs?: number;
}

export class FileConfigStore extends BaseConfigStore {
  private readonly files = new Map<string, FileEntry>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly emptySeen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly settleMs: number;

  constructor(
    /** absolute PATH */
    readonly root: string,
    private readonly rootIsDir: boolean,
    opts: FileConfigStoreOptions,
  ) {
    super(opts);
    this.settleMs = opts.settleMs ?? 50;
  }

  /** Schedules a rescan after the settle time (events in a burst share one). */
  rescanSoon(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.scanning = this.scanning.then(() => this.rescan());
    }, this.settleMs);
  }

  /** Reads the tree, updates the watched directories and commits what changed. */
  async rescan(): Promise<void> {
    if (this.closed) return;
    const scanStartMs = Date.now();
    let listed: { files: ListedFile[]; dirs: string[] };
    try {
      listed = this.rootIsDir ? await listTree(this.root) : { files: [{ path: this.root, stamp: stampOf(await stat(this.root, { bigint: true })) }], dirs: [path.dirname(this.root)] };
    } catch (err) {
      this.log.warn({ path: this.root, err: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'config path unreadable; keeping the config in force');
      return;
    }
    if (this.closed) return;
    this.watchDirs(listed.dirs);
    // Reads in parallel (the thread pool overlaps them), then parses in path order.
    const texts = await Promise.all(
      listed.files.map(async (f): Promise<string | undefined | Error> => {
        const old = this.files.get(f.path);
        if (old && old.stamp.key === f.stamp.key && scanStartMs - f.stamp.mtimeMs > RACY_MS) return undefined;
        return readFile(f.path, 'utf8').catch((err: Error) => err);
      }),
    );
    const seen = new Set<string>();
    listed.files.forEach(({ path: file, stamp }, i) => {
      const text = texts[i];
      const old = this.files.get(file);
      if (text instanceof Error) {
        // gone between listing and reading (a rename in progress): the next event rescans
        this.log.debug({ file, err: (text as NodeJS.ErrnoException).code }, 'config file vanished while reading');
        if (old) seen.add(file);
        return;
      }
      seen.add(file);
      if (text === undefined) return;
      if (old && old.text === text) {
        old.stamp = stamp;
        return;
      }
      if (old && text.trim() === '' && !this.emptySeen.has(file)) {
        // A writer truncates before it writes: an emptied file counts once it is still empty a settle time later.
        this.emptySeen.add(file);
        this.rescanSoon();
        return;
      }
      this.emptySeen.delete(file);
      this.files.set(file, { ...this.parseFile(file, text, old), stamp });
    });
    for (const file of [...this.files.keys()]) if (!seen.has(file)) this.files.delete(file);
    const desired = this.merge([...seen].sort());
    const { upserts, deletes } = this.current.diffTo(desired);
    this.commit(upserts, deletes);
  }

  /** One file's text -> its entry; a YAML error keeps the old entry's objects. */
  private parseFile(file: string, text: string, old: FileEntry | undefined): Omit<FileEntry, 'stamp'> {
    let docs;
    try {
      // ~1 ms per document with `yaml` (js-yaml measured 8-12x faster), kept so that the stores and
      // `tandem validate` read documents with one parser; only changed files are parsed.
      // A document that is not a mapping is refused alone; the file's other objects still count.
      docs = parseDocuments(text, file, (document, problem) => this.log.error({ file, document, problems: problem }, 'config document refused: not an object'));
    } catch (err) {
      this.log.error({ file, err: (err as Error).message, keptObjects: old?.objects.size ?? 0 }, 'config file is not valid YAML; its last good objects stay in force');
      return { text, objects: old?.objects ?? new Map() };
    }
    const objects: FileEntry['objects'] = new Map();
    for (const d of docs) {
      const a = admitDocument(d.object, this.validate, 'default');
      if (a.outcome === 'ignored') {
        this.log.debug({ file, document: d.index, reason: a.reason }, 'document ignored');
        continue;
      }
      if (a.outcome === 'rejected') {
        const lastGood = a.key === undefined ? undefined : (old?.objects.get(a.key)?.object ?? this.current.byKey(a.kind).get(a.key));
        const [, namespace, name] = a.key?.split('/') ?? [];
        this.rejected(a.kind, { file, document: d.index, namespace, name }, a.problems, lastGood !== undefined);
        if (a.key !== undefined && lastGood !== undefined && !objects.has(a.key)) objects.set(a.key, { object: lastGood, document: d.index });
        continue;
      }
      const key = `${a.object.kind}/${a.object.metadata.namespace}/${a.object.metadata.name}`;
      const first = objects.get(key);
      if (first) {
        this.log.warn({ file, document: d.index, key, kept: `document ${first.document}` }, 'duplicate Istio config object in one file; the first stays');
        continue;
      }
      objects.set(key, { object: a.object, document: d.index });
    }
    return { text, objects };
  }

  /** Every file's objects, first file (path order) winning a duplicate. */
  private merge(files: string[]): Map<string, ConfigObject> {
    const desired = new Map<string, ConfigObject>();
    const from = new Map<string, string>();
    for (const file of files) {
      for (const [key, { object, document }] of this.files.get(file)?.objects ?? []) {
        const winner = from.get(key);
        if (winner !== undefined) {
          this.log.warn({ key, file, document, kept: winner }, 'duplicate Istio config object; the one from the first file in path order stays');
          continue;
        }
        from.set(key, file);
        desired.set(key, object);
      }
    }
    return desired;
  }

  private watchDirs(dirs: string[]): void {
    const want = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (!want.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    const base = this.rootIsDir ? undefined : path.basename(this.root);
    for (const dir of want) {
      if (this.watchers.has(dir)) continue;
      try {
        // Directories, not files: editors replace a file by rename, which a watch on the file loses.
        const w = watch(dir, (_event, name) => {
          if (base !== undefined && name !== null && name !== base) return;
          this.rescanSoon();
        });
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
          this.rescanSoon();
        });
        this.watchers.set(dir, w);
      } catch (err) {
        this.log.warn({ dir, err: (err as NodeJS.ErrnoException).code }, 'cannot watch config directory');
      }
    }
  }

  /** Waits for the scans scheduled so far (tests). */
  async settled(): Promise<void> {
    await this.scanning;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.scanning;
  }

  /** First scan (called once by createFileConfigStore). */
  async start(): Promise<void> {
    await this.rescan();
    this.markSynced();
  }
}

/** Files (sorted, with their stamps) and directories under `root`, following symlinks, skipping dot-names. */
async function listTree(root: string): Promise<{ files: ListedFile[]; dirs: string[] }> {
  const files: ListedFile[] = [];
  const dirs: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    dirs.push(dir);
    const names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
    const stats = await Promise.all(names.map((n) => stat(path.join(dir, n), { bigint: true }).catch(() => undefined)));
    const subdirs: string[] = [];
    names.forEach((name, i) => {
      const st = stats[i];
      const p = path.join(dir, name);
      if (st?.isDirectory()) subdirs.push(p);
      else if (st?.isFile() && EXTENSIONS.has(path.extname(name).toLowerCase())) files.push({ path: p, stamp: stampOf(st) });
    });
    await Promise.all(subdirs.map(walk));
  };
  await walk(root);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, dirs };
}

/** Reads and watches PATH; a missing PATH is a UserError (the caller creates `.tandem/config/` on embedded defaults). */
export async function createFileConfigStore(file: string, opts: FileConfigStoreOptions): Promise<FileConfigStore> {
  const root = path.resolve(file);
  let isDir: boolean;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch (err) {
    throw new UserError(`config path ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const store = new FileConfigStore(root, isDir, opts);
  await store.start();
  return store;
}
