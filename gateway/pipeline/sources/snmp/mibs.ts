// The MIB files an snmp source names (`mibs`): the object names they define, for the polls'
// fields and columns (`laLoad`, `PowerNet-MIB::upsAdvBatteryCapacity.0`) and for the names of
// traps and their varbinds.
//
// Why a child process: net-snmp parses MIBs (its ModuleStore), but in the gateway's process the
// parse keeps its memory for good: 11.7 MiB of RSS for net-snmp's base modules alone and 28.6 MiB
// with UCD-SNMP-MIB loaded, for a name table of a few KiB (measured, docs/snmp-source.md; a worker
// thread still kept 13.5 MiB after it ended). So a short-lived `node` parses them (~0.3 s here)
// and prints the names; the source keeps only those, and caches them in the data folder keyed by
// the files' paths, sizes and times: a restart reads a small JSON and starts no child.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ERRORS, fileErrorReason } from '../../../../core/errors.js';
import { mibOrder, type MibFile } from './mib-order.js';
import { isOidName, type SnmpSourceOptions } from './options.js';

/** A MIB directory holds at most this many files, and a file at most this many bytes: a typo'd path (/usr/share) must not parse the disk. */
const MAX_FILES = 2000;
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** The child's time to parse: ~0.3 s for a few files here, a full IETF set takes seconds on a Pi. */
const PARSE_TIMEOUT_MS = 120_000;
/** Bumped when the cache's shape or the child's output changes. */
const CACHE_FORMAT = 1;

/**
 * The child: reads { lib, files, stubs } (files in load order) on stdin, writes { names, notes } on
 * stdout. It drives net-snmp's parser directly rather than through ModuleStore.loadFromFile, which
 * compiles every module loaded so far again at each file (a directory of 300 MIBs: 300 x 300), and
 * after one failure fails every later file (the broken module stays in the parser's tables): all
 * files are read, then compiled once; a module importing one no file defines gets an empty stand-in
 * (`stubs`), so its objects under the missing node get no OID instead of throwing; if the batch
 * still throws, file by file, each that throws taken out again. net-snmp reports with
 * console.log/warn: collected as notes (stdout is the answer).
 */
const CHILD = `
const { basename, extname } = require('node:path');
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const { lib, files, stubs } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const notes = new Set();
  console.log = console.warn = console.error = console.info = (...a) => notes.add(require('node:util').format(...a).replace(/!{2,}/g, '').replace(/\\s+/g, ' ').trim());
  const store = require(lib).createModuleStore();
  const p = store.parser;
  const base = new Set(Object.keys(p.Modules));
  for (const m of stubs) if (!p.Modules[m]) p.Modules[m] = {};
  const drop = (f) => {
    const key = basename(f, extname(f));
    const mod = p.CharBuffer.ModuleName[key];
    delete p.CharBuffer.Table[key];
    delete p.CharBuffer.ModuleName[key];
    if (mod && !base.has(mod)) { delete p.SymbolBuffer[mod]; delete p.Modules[mod]; }
  };
  try {
    for (const f of files) p.Import(f);
    p.Serialize();
  } catch (err) {
    for (const f of files) drop(f);
    for (const f of files) {
      try { p.Import(f); p.Serialize(); } catch (e) { notes.add(f + ': not loaded: ' + (e && e.message || String(e))); drop(f); }
    }
  }
  const names = [];
  for (const [mod, defs] of Object.entries(p.Modules)) {
    for (const def of Object.values(defs)) {
      if (def && typeof def.OID === 'string' && typeof def.ObjectName === 'string' && /^\\d+(\\.\\d+)+$/.test(def.OID)) names.push([mod, def.ObjectName, def.OID]);
    }
  }
  process.stdout.write(JSON.stringify({ names, notes: [...notes] }));
});
`;

interface Parsed {
  /** [module, name, numeric OID] */
  names: Array<[string, string, string]>;
  notes: string[];
}

/** The names a source's MIB files define, and what the parse noted (missing imports...). */
export class MibNames {
  private readonly qualified = new Map<string, string>();
  private readonly plain = new Map<string, string>();
  private readonly ambiguous = new Map<string, string[]>();
  private readonly byOid = new Map<string, string>();
  readonly modules: string[];

  constructor(
    parsed: Parsed,
    readonly notes: readonly string[] = parsed.notes,
  ) {
    const modulesOf = new Map<string, Set<string>>();
    for (const [mod, name, oid] of parsed.names) {
      this.qualified.set(`${mod}::${name}`, oid);
      const other = this.plain.get(name);
      if (other === undefined && !this.ambiguous.has(name)) this.plain.set(name, oid);
      else if (other !== undefined && other !== oid) {
        this.plain.delete(name);
        this.ambiguous.set(name, []);
      }
      if (!modulesOf.has(name)) modulesOf.set(name, new Set());
      modulesOf.get(name)!.add(mod);
    }
    for (const [name, list] of this.ambiguous) list.push(...(modulesOf.get(name) ?? []));
    for (const [mod, name, oid] of parsed.names) if (!this.byOid.has(oid)) this.byOid.set(oid, this.plain.has(name) ? name : `${mod}::${name}`);
    this.modules = [...new Set(parsed.names.map(([m]) => m))];
  }

  get size(): number {
    return this.qualified.size;
  }

  /**
   * The numeric OID of `text` (`name`, `MODULE::name`, either with a numeric suffix), or why not.
   * Only names: numeric OIDs and the built-in names are resolved before (oids.ts).
   */
  resolve(text: string): { oid: string } | { problem: string } {
    const m = /^(?:([A-Za-z][A-Za-z0-9-]*)::)?([A-Za-z][A-Za-z0-9-]*)((?:\.\d+)*)$/.exec(text.trim());
    if (!m) return { problem: `'${text}' is not an OID name (name, MODULE::name, either followed by .index)` };
    const [, mod, name, suffix = ''] = m as unknown as [string, string | undefined, string, string | undefined];
    if (mod !== undefined) {
      const oid = this.qualified.get(`${mod}::${name}`);
      if (oid !== undefined) return { oid: oid + suffix };
      return {
        problem: this.modules.includes(mod)
          ? `${mod} defines no '${name}'`
          : `no MIB module ${mod} among the loaded ones (${this.modules.length} modules${this.notes.length ? `; the parse noted: ${this.notes.slice(0, 3).join('; ')}` : ''})`,
      };
    }
    const oid = this.plain.get(name);
    if (oid !== undefined) return { oid: oid + suffix };
    const both = this.ambiguous.get(name);
    if (both) return { problem: `'${name}' is defined in ${both.join(' and ')} with other OIDs: write ${both[0]}::${name}` };
    return { problem: `no loaded MIB defines '${name}' (${this.modules.length} modules loaded)` };
  }

  /**
   * The name of a numeric OID, or of its nearest defined ancestor with the rest as its index
   * (upsAdvBatteryCapacity.0, nsExtendOutLine.5.108.105.110.101.115), else undefined.
   */
  nameOf(oid: string): string | undefined {
    for (let end = oid.length; end > 0; end = oid.lastIndexOf('.', end - 1)) {
      const name = this.byOid.get(oid.slice(0, end));
      if (name) return name + oid.slice(end);
    }
    return undefined;
  }
}

/** The MIB files named by `paths` (files, or directories of them: every regular file not hidden), in code-point order. */
export function mibFileList(source: string, paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      throw ERRORS.GH_SNMP_MIB({ source, reason: `cannot read the MIB path ${p}: ${fileErrorReason(err)}` });
    }
    if (!isDir) {
      files.push(p);
      continue;
    }
    const entries = readdirSync(p, { withFileTypes: true })
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    files.push(...entries.map((e) => join(p, e)));
    if (files.length > MAX_FILES) break;
  }
  if (files.length > MAX_FILES)
    throw ERRORS.GH_SNMP_MIB({ source, reason: `mibs name more than ${MAX_FILES} files: list the MIB files or a directory of them, not a tree` });
  return files;
}

/** What the cache is keyed by: each file's path, size and time (a stat, no read), net-snmp's version. */
function cacheKey(source: string, files: readonly string[]): string {
  const hash = createHash('sha256').update(`gatehouse-mibs ${CACHE_FORMAT} ${netSnmpVersion()}\n`);
  for (const file of files) {
    try {
      const st = statSync(file);
      if (st.size > MAX_FILE_BYTES) throw new Error(`over ${MAX_FILE_BYTES / 1048576} MiB: not a MIB file`);
      hash.update(`${file}\0${st.size}\0${st.mtimeMs}\n`);
    } catch (err) {
      throw unreadable(source, file, err);
    }
  }
  return hash.digest('hex');
}

function unreadable(source: string, file: string, err: unknown): Error {
  return ERRORS.GH_SNMP_MIB({
    source,
    reason: `cannot read the MIB file ${file}: ${err instanceof Error && !('code' in err) ? err.message : fileErrorReason(err)}`,
  });
}

/** Read each file's module name and imports: the load order (only when the names must be parsed). */
function scan(source: string, files: readonly string[]): { ordered: MibFile[]; notes: string[]; missing: string[] } {
  const read: Array<{ file: string; text: string }> = [];
  for (const file of files) {
    try {
      read.push({ file, text: readFileSync(file, 'latin1') });
    } catch (err) {
      throw unreadable(source, file, err);
    }
  }
  return mibOrder(read);
}

let libPath: string | undefined;
function netSnmpLib(): string {
  libPath ??= createRequire(import.meta.url).resolve('net-snmp');
  return libPath;
}
function netSnmpVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(dirname(netSnmpLib()), 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return '?';
  }
}

function parseOutput(source: string, stdout: string): Parsed {
  try {
    const out = JSON.parse(stdout) as Parsed;
    if (Array.isArray(out.names) && Array.isArray(out.notes)) return out;
  } catch {
    // below
  }
  throw ERRORS.GH_SNMP_MIB({ source, reason: `the MIB parser answered what is not its result: ${stdout.slice(0, 200)}` });
}

const childInput = (ordered: readonly MibFile[], stubs: readonly string[]): string =>
  JSON.stringify({ lib: netSnmpLib(), files: ordered.map((f) => f.file), stubs });

/** Parse in a child, or read the names the last parse of the same files cached in `cacheFile` (none: check-config). */
export async function loadMibNames(source: string, paths: readonly string[], cacheFile: string | undefined): Promise<MibNames> {
  const files = mibFileList(source, paths);
  const key = cacheKey(source, files);
  if (cacheFile) {
    try {
      const cached = JSON.parse(await readFile(cacheFile, 'utf8')) as { key?: string } & Parsed;
      if (cached.key === key && Array.isArray(cached.names) && Array.isArray(cached.notes)) return new MibNames(cached);
    } catch {
      // none yet, or unreadable: parse again
    }
  }
  const { ordered, notes, missing } = scan(source, files);
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', CHILD], { timeout: PARSE_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, out) => {
      if (err) reject(ERRORS.GH_SNMP_MIB({ source, reason: `the MIB parser failed: ${err.message.split('\n')[0]}` }));
      else resolve(out);
    });
    child.stdin?.end(childInput(ordered, missing));
  });
  const parsed = parseOutput(source, stdout);
  const all: Parsed = { names: parsed.names, notes: [...notes, ...parsed.notes] };
  if (cacheFile) {
    // a lost cache only costs the next start a parse: written whole (tmp + rename), errors ignored
    try {
      await mkdir(dirname(cacheFile), { recursive: true });
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify({ key, ...all }));
      await rename(tmp, cacheFile);
    } catch {
      // read-only data folder: parse at each start
    }
  }
  return new MibNames(all);
}

/**
 * The source's options with every name of its polls made numeric by `names` (numeric OIDs and the
 * built-in names are already); throws one error listing each name no MIB defines, with its key.
 */
export function resolvePollNames(options: SnmpSourceOptions, names: MibNames): SnmpSourceOptions {
  const problems: string[] = [];
  const polls = options.polls.map((p, i) => {
    const one = (oid: string, path: string): string => {
      if (!isOidName(oid)) return oid;
      const r = names.resolve(oid);
      if ('oid' in r) return r.oid;
      problems.push(`polls.${i}.${path}: ${r.problem}`);
      return oid;
    };
    const fields = p.fields ? Object.fromEntries(Object.entries(p.fields).map(([k, oid]) => [k, one(oid, `fields.${k}`)])) : undefined;
    const tables = p.tables.map((t, j) => ({
      ...t,
      columns: Object.fromEntries(Object.entries(t.columns).map(([k, oid]) => [k, one(oid, `tables.${j}.columns.${k}`)])),
    }));
    return { ...p, ...(fields ? { fields } : {}), tables };
  });
  // A name missing because its file did not parse (a syntax error, a missing import) is only
  // understood with what the parse said: shown here, where check-config shows nothing else of it.
  const noted =
    names.notes.length > 0
      ? ` (the MIB files' parse noted: ${names.notes.slice(0, 3).join('; ')}${names.notes.length > 3 ? `; and ${names.notes.length - 3} more` : ''})`
      : '';
  if (problems.length > 0)
    throw ERRORS.GH_SNMP_MIB(
      { source: options.name, reason: problems.join('; ') + noted },
      { where: `sources.${options.name}.${problems[0]!.split(':')[0]}`, details: { notes: names.notes.slice(0, 20) } },
    );
  return { ...options, polls };
}
