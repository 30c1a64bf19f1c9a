// The order in which an snmp source's MIB files are given to net-snmp's parser: a module after the
// modules it imports. net-snmp resolves an import only from modules already loaded; loaded too early,
// a module's objects under an imported node get no OID (and no name), with a line on stdout only.
// So the files are read here for their module names and IMPORTS (a few regexes, not a parser), and
// sorted: what imports nothing of the list first. Imports that no file of the list defines and that
// net-snmp does not carry are returned as notes (`UCD-SNMP-MIB imports HCNUM-TC, which no file in mibs defines`).

export interface MibFile {
  file: string;
  /** The modules the file defines (usually one). */
  modules: string[];
  imports: string[];
}

/** The modules net-snmp loads itself (its ModuleStore's base modules and the ones it ships). */
const BUILT_IN = new Set(['RFC1155-SMI', 'RFC1158-MIB', 'RFC-1212', 'RFC1213-MIB', 'RFC-1215', 'SNMPv2-SMI', 'SNMPv2-CONF', 'SNMPv2-TC', 'SNMPv2-MIB']);

const MODULE = /^\s*([A-Za-z][A-Za-z0-9-]*)\s+(?:\{[^}]*\}\s*)?DEFINITIONS\b[^:]*::=\s*BEGIN/gm;

/** Module names and imports of one MIB file's text. */
export function scanMib(text: string): { modules: string[]; imports: string[] } {
  // ASN.1 comments: from `--` to the end of the line (or to the next `--`)
  const plain = text.replace(/--.*?(?:--|$)/gm, ' ');
  const modules = [...plain.matchAll(MODULE)].map((m) => m[1]!);
  const imports = new Set<string>();
  for (const section of plain.matchAll(/\bIMPORTS\b([\s\S]*?);/g))
    for (const from of section[1]!.matchAll(/\bFROM\s+([A-Za-z][A-Za-z0-9-]*)/g)) imports.add(from[1]!);
  for (const m of modules) imports.delete(m);
  return { modules, imports: [...imports] };
}

/** The files in load order, and the imports none of them (nor net-snmp) defines (`missing`, and a note for each). */
export function mibOrder(files: ReadonlyArray<{ file: string; text: string }>): { ordered: MibFile[]; notes: string[]; missing: string[] } {
  const notes: string[] = [];
  const scanned: MibFile[] = [];
  const definedBy = new Map<string, MibFile>();
  for (const { file, text } of files) {
    const { modules, imports } = scanMib(text);
    if (modules.length === 0) {
      notes.push(`${file}: no MIB module in it (no 'NAME DEFINITIONS ::= BEGIN'): skipped`);
      continue;
    }
    const entry: MibFile = { file, modules, imports };
    const fresh = modules.filter((m) => !definedBy.has(m) && !BUILT_IN.has(m));
    if (fresh.length === 0) {
      notes.push(
        `${file}: ${modules.join(', ')} ${BUILT_IN.has(modules[0]!) ? 'comes with the gateway' : `is also in ${definedBy.get(modules[0]!)!.file}`}: skipped`,
      );
      continue;
    }
    for (const m of fresh) definedBy.set(m, entry);
    scanned.push(entry);
  }
  const missing = new Map<string, Set<string>>();
  for (const f of scanned)
    for (const i of f.imports)
      if (!definedBy.has(i) && !BUILT_IN.has(i)) {
        if (!missing.has(i)) missing.set(i, new Set());
        for (const m of f.modules) missing.get(i)!.add(m);
      }
  for (const [i, by] of missing) notes.push(`${[...by].join(', ')} import${by.size === 1 ? 's' : ''} ${i}, which no file in mibs defines`);
  // depth-first: a file after the files defining its imports; a cycle is broken where it is met
  const ordered: MibFile[] = [];
  const state = new Map<MibFile, 'visiting' | 'done'>();
  const visit = (f: MibFile): void => {
    if (state.has(f)) return;
    state.set(f, 'visiting');
    for (const i of f.imports) {
      const dep = definedBy.get(i);
      if (dep && dep !== f) visit(dep);
    }
    state.set(f, 'done');
    ordered.push(f);
  };
  for (const f of scanned) visit(f);
  return { ordered, notes, missing: [...missing.keys()] };
}
