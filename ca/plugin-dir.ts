import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../common/errors.js';
import { PLUGIN_FILES, type PluginPems, type PluginWhere } from './authority.js';

/** The plug-in layout on disk (`tandem ca init`, `.tandem/ca/`, a mounted `cacerts` Secret). */
export function pluginWhere(dir: string): PluginWhere {
  return {
    caCert: join(dir, PLUGIN_FILES.caCert),
    caKey: join(dir, PLUGIN_FILES.caKey),
    certChain: join(dir, PLUGIN_FILES.certChain),
    rootCert: join(dir, PLUGIN_FILES.rootCert),
  };
}

async function readPart(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

export async function readPluginDir(dir: string): Promise<{ pems: PluginPems; where: PluginWhere }> {
  const where = pluginWhere(dir);
  // one after the other, so the error for a missing directory always names the same (first) file
  const caCert = await readPart(where.caCert);
  const caKey = await readPart(where.caKey);
  const certChain = await readPart(where.certChain);
  const rootCert = await readPart(where.rootCert);
  return { pems: { caCert, caKey, certChain, rootCert }, where };
}

/** Writes the four files, the key mode 0600; each file appears whole (temp file + rename). */
export async function writePluginDir(dir: string, pems: PluginPems): Promise<PluginWhere> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const where = pluginWhere(dir);
  for (const part of ['caCert', 'certChain', 'rootCert', 'caKey'] as const) {
    const tmp = `${where[part]}.tmp-${process.pid}`;
    await writeFile(tmp, pems[part], { mode: part === 'caKey' ? 0o600 : 0o644 });
    await rename(tmp, where[part]);
  }
  return where;
}
