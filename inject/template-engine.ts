import { parse as parseYaml } from 'yaml';
import { UserError } from '../common/errors.js';

/**
 * Data templates: YAML with `${name}` placeholders, compiled once into a render
 * function so that admission never parses YAML.
 *
 * - A string that is exactly `${name}` becomes the typed value (number, object,
 *   list...). If the value is undefined, the mapping key or list item is dropped.
 * - `${...name}` as a list item splices a list value into the list.
 * - `${name}` inside a longer string is replaced by the value's text.
 */
export type TemplateValues = Readonly<Record<string, unknown>>;
export type Render = (values: TemplateValues) => unknown;

const DROP = Symbol('drop');
type Node = (v: TemplateValues) => unknown;
type ListItem = { node: Node; spread: boolean };

const WHOLE = /^\$\{([A-Za-z][A-Za-z0-9_]*)\}$/;
const SPREAD = /^\$\{\.\.\.([A-Za-z][A-Za-z0-9_]*)\}$/;
const INNER = /\$\{([A-Za-z][A-Za-z0-9_]*)\}/g;

export interface CompiledTemplate {
  render: Render;
  /** Placeholder names the template uses. */
  placeholders: ReadonlySet<string>;
}

export function compileTemplate(text: string, source: string, known: ReadonlySet<string>): CompiledTemplate {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`template ${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const used = new Set<string>();
  const use = (name: string, path: string): string => {
    if (!known.has(name)) throw new UserError(`template ${source}: ${path || '(root)'}: unknown placeholder \${${name}} (known: ${[...known].sort().join(', ')})`);
    used.add(name);
    return name;
  };

  const compile = (v: unknown, path: string): Node => {
    if (typeof v === 'string') {
      const whole = WHOLE.exec(v);
      if (whole) {
        const name = use(whole[1] as string, path);
        return (vals) => (vals[name] === undefined ? DROP : copyValue(vals[name]));
      }
      if (SPREAD.test(v)) throw new UserError(`template ${source}: ${path}: \${...} is only allowed as a list item`);
      if (!v.includes('${')) return () => v;
      const parts: Array<string | { name: string }> = [];
      let last = 0;
      for (const m of v.matchAll(INNER)) {
        parts.push(v.slice(last, m.index));
        parts.push({ name: use(m[1] as string, path) });
        last = (m.index ?? 0) + m[0].length;
      }
      parts.push(v.slice(last));
      return (vals) => {
        let s = '';
        for (const p of parts) {
          if (typeof p === 'string') s += p;
          else {
            const x = vals[p.name];
            if (x === undefined) return DROP;
            s += typeof x === 'string' ? x : JSON.stringify(x);
          }
        }
        return s;
      };
    }
    if (Array.isArray(v)) {
      const items: ListItem[] = v.map((item, i) => {
        const p = `${path}[${i}]`;
        if (typeof item === 'string') {
          const sp = SPREAD.exec(item);
          if (sp) {
            const name = use(sp[1] as string, p);
            return { node: (vals) => vals[name], spread: true };
          }
        }
        return { node: compile(item, p), spread: false };
      });
      return (vals) => {
        const out: unknown[] = [];
        for (const it of items) {
          const x = it.node(vals);
          if (it.spread) {
            if (x === undefined) continue;
            if (!Array.isArray(x)) throw new Error(`template ${source}: spread value is not a list`);
            for (const e of x) out.push(copyValue(e));
          } else if (x !== DROP) out.push(x);
        }
        return out;
      };
    }
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      const nodes = keys.map((k) => compile((v as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
      return (vals) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < keys.length; i++) {
          const x = (nodes[i] as Node)(vals);
          if (x !== DROP) out[keys[i] as string] = x;
        }
        return out;
      };
    }
    return () => v;
  };

  const root = compile(doc, '');
  return {
    render: (vals) => {
      const x = root(vals);
      return x === DROP ? undefined : x;
    },
    placeholders: used,
  };
}

/** Template values are plain data; a recursive copy is much cheaper than structuredClone on this path. */
function copyValue(x: unknown): unknown {
  if (x === null || typeof x !== 'object') return x;
  if (Array.isArray(x)) {
    const list = new Array<unknown>(x.length);
    for (let i = 0; i < x.length; i++) list[i] = copyValue(x[i]);
    return list;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(x)) out[k] = copyValue((x as Record<string, unknown>)[k]);
  return out;
}
