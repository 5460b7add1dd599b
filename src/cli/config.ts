// SPDX-License-Identifier: GPL-2.0-only
/*
 * --config FILE.yaml: the simulated machine and the module parameters.
 *
 *   machine:
 *     physBits: 40                 # CPU physical address bits (36..52)
 *     ram: 4G                      # System RAM (up to 3 GiB below 4 GiB, the rest above the SPM ranges)
 *     spm:                         # special-purpose memory, as efi_fake_mem=<size>@<start>:0x40000 declares it
 *       - { start: 0x100000000, size: 1G }
 *       - { start: 0x140000000, size: 1G }
 *     transparent_hugepage: madvise  # always | madvise | never (the kernel command line's setting)
 *     hugepages: 16                # hugetlbfs pool of 2 MiB pages (vm.nr_hugepages)
 *   kernel: '6.12'                 # the kernel profile (hmm-test kernels lists them), as --kernel
 *   patches: [test_hmm-no-evict-on-close]  # patches on top of it, in order, as --patch
 *   module:                        # test_hmm parameters, as modprobe would get them
 *     spm_addr_dev0: 0x100000000
 *     spm_addr_dev1: 0x140000000
 *     spm_type: generic            # or coherent (6.12's devices 2 and 3), or public (seed 004's, devices 2 and 3)
 *
 * Every key is optional; what is left out is the default machine of
 * `hmm-test smoke`. Unknown keys and bad values are errors that say what
 * would be right.
 */
import { openSync, fstatSync, readSync, closeSync, constants as fsConstants } from 'node:fs';
import { yaml } from './yaml.js';
import { type MachineConfig, type MemoryMapEntry, defaultMachine, hex } from '../kernel-model/machine.js';
import { type TestHmmParams, type SpmType, SPM_TYPES } from '../dmirror/test_hmm.js';
import { UsageError, parseAddress } from './args.js';
import { composeKernel } from '../kernel-model/changes.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export interface HmmTestConfig {
  machine: MachineConfig;
  params: TestHmmParams | null;
  /** The kernel profile's name (kernel-model/changes.ts), when the file gives one. */
  kernel?: string;
  /** Patches on top of the kernel (`patches:`), in order. */
  patches?: string[];
}

/** The largest --config file read: a configuration is a few hundred bytes. */
export const CONFIG_MAX_BYTES = 64 * 1024;

/**
 * Read a --config file: a regular file only (a FIFO would block, a device
 * such as /dev/zero never ends) and at most CONFIG_MAX_BYTES.
 */
export function readConfigFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give the path of a YAML file`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`${path} is not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isSocket() ? 'a socket' : 'not a file'}); give the path of a YAML file`);
    if (st.size > CONFIG_MAX_BYTES) throw new UsageError(`${path} is ${st.size} bytes, more than a configuration needs (at most ${CONFIG_MAX_BYTES}); give the path of a YAML file`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give the path of a YAML file`);
  } finally {
    closeSync(fd);
  }
}

/** A value as the user wrote it, for messages (JSON has no Infinity: 1e400 shows as Infinity, not null). */
const show = (v: unknown): string => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : JSON.stringify(v) ?? String(v));

/** "4G", "512M", 4294967296 or "0x100000000" as a byte count, more than 0. */
function parseSize(where: string, v: unknown): number {
  let n = NaN;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const m = /^(\d+)\s*([KMGT]?)i?B?$/i.exec(v.trim());
    if (m) n = Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2].toUpperCase() || ' ');
    else if (/^0x[0-9a-f]+$/i.test(v.trim())) n = parseInt(v.trim().slice(2), 16);
  }
  if (Number.isSafeInteger(n) && n > 0) return n;
  throw new UsageError(`${where}: ${show(v)} is not a size: write it like 1G, 256M or 0x40000000 (more than 0)`);
}

function parseAddr(where: string, v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string') return parseAddress(where, v);
  throw new UsageError(`${where}: ${show(v)} is not an address: write it like 0x100000000`);
}

/** A whole number from the file (a YAML integer, not a string, a list or a boolean) in [lo, hi]. */
function wholeNumber(where: string, v: unknown, lo: number, hi: number, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi) return v;
  throw new UsageError(`${where} ${show(v)}: give ${what} from ${lo} to ${hi}`);
}

function onlyKeys(where: string, obj: unknown, keys: string[]): Record<string, unknown> {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new UsageError(`${where} must be a mapping with the keys ${keys.join(', ')}`);
  }
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) throw new UsageError(`${where}: unknown key '${k}'; the keys are ${keys.join(', ')}`);
  }
  return obj as Record<string, unknown>;
}

/** Build the e820-like map: low RAM like QEMU's, the SPM ranges, the rest of the RAM above them. */
function buildMachine(physBits: number, ram: number, spm: Array<{ start: number; size: number }>): MachineConfig {
  const map: MemoryMapEntry[] = [
    { start: 0x0, size: 0x1000, type: 'Reserved' },
    { start: 0x1000, size: 0x9f000, type: 'System RAM' },
    { start: 0xf0000, size: 0x10000, type: 'Reserved' },
  ];
  const low = Math.min(ram, 3 * GiB) - MiB;
  map.push({ start: 0x100000, size: low, type: 'System RAM' });
  map.push({ start: 0xfffc0000, size: 0x40000, type: 'Reserved' });
  for (const s of spm) map.push({ start: s.start, size: s.size, type: 'Soft Reserved' });
  const high = ram - Math.min(ram, 3 * GiB);
  if (high > 0) {
    const top = Math.max(4 * GiB, ...spm.map((s) => s.start + s.size));
    map.push({ start: Math.ceil(top / GiB) * GiB, size: high, type: 'System RAM' });
  }
  const end = Math.max(...map.map((e) => e.start + e.size));
  if (end > 2 ** physBits) throw new UsageError(`machine: memory reaches ${hex(end)}, beyond ${physBits} physical address bits: raise physBits or lower ram/spm`);
  return { physBits, memoryMap: map };
}

/** The `machine:` block (of --config or a scenario's config); `where` prefixes every error. */
export function parseMachine(where: string, block: unknown): MachineConfig {
  const m = onlyKeys(where, block, ['physBits', 'ram', 'spm', 'transparent_hugepage', 'hugepages']);
  const thp = m.transparent_hugepage ?? 'madvise';
  if (thp !== 'always' && thp !== 'madvise' && thp !== 'never') {
    throw new UsageError(`${where}.transparent_hugepage ${show(m.transparent_hugepage)}: say always, madvise or never`);
  }
  const hugepages = m.hugepages === undefined ? 16 : wholeNumber(`${where}.hugepages`, m.hugepages, 0, 4096, 'a whole number of 2M pages');
  const physBits = m.physBits === undefined ? 40 : wholeNumber(`${where}.physBits`, m.physBits, 36, 52, 'a whole number');
  const ram = m.ram === undefined ? 4 * GiB : parseSize(`${where}.ram`, m.ram);
  if (ram < 256 * MiB || ram % (2 * MiB) !== 0) throw new UsageError(`${where}.ram must be a multiple of 2M and at least 256M`);
  // vm.nr_hugepages takes its pages from System RAM: a pool of the whole RAM leaves the kernel and the test nothing.
  if (hugepages * 2 * MiB > ram / 2) {
    throw new UsageError(`${where}.hugepages ${hugepages} (${hugepages * 2} MiB) is more than half of ${where.replace(/^.*: /, '')}.ram (${ram / MiB} MiB): lower hugepages or raise ram`);
  }
  let spm = [{ start: 4 * GiB, size: GiB }, { start: 5 * GiB, size: GiB }];
  if (m.spm !== undefined) {
    if (!Array.isArray(m.spm)) throw new UsageError(`${where}.spm must be a list of { start, size }`);
    spm = m.spm.map((e, i) => {
      const r = onlyKeys(`${where}.spm[${i}]`, e, ['start', 'size']);
      const start = parseAddr(`${where}.spm[${i}].start`, r.start), size = parseSize(`${where}.spm[${i}].size`, r.size);
      if (start % (2 * MiB) || size % (2 * MiB)) throw new UsageError(`${where}.spm[${i}] must start and end on a 2M boundary (memremap_pages() works in 2 MiB subsections)`);
      if (start < 4 * GiB) throw new UsageError(`${where}.spm[${i}] starts at ${hex(start)}, inside the low RAM and I/O hole: put it at 0x100000000 or above`);
      return { start, size };
    }).sort((a, b) => a.start - b.start);
    spm.forEach((s, i) => {
      if (i > 0 && s.start < spm[i - 1].start + spm[i - 1].size) throw new UsageError(`${where}.spm ranges at ${hex(spm[i - 1].start)} and ${hex(s.start)} overlap`);
    });
  }
  return { ...buildMachine(physBits, ram, spm), transparentHugepage: thp, nrHugepages: hugepages };
}

/** The `module:` block: test_hmm's parameters. */
export function parseModuleParams(where: string, block: unknown): TestHmmParams {
  const p = onlyKeys(where, block, ['spm_addr_dev0', 'spm_addr_dev1', 'spm_type']);
  if (p.spm_type !== undefined && !SPM_TYPES.includes(p.spm_type as SpmType)) {
    throw new UsageError(`${where}.spm_type is ${show(p.spm_type)}; say ${SPM_TYPES.join(' or ')}`);
  }
  const params: TestHmmParams = {
    spm_addr_dev0: p.spm_addr_dev0 === undefined ? 0 : parseAddr(`${where}.spm_addr_dev0`, p.spm_addr_dev0),
    spm_addr_dev1: p.spm_addr_dev1 === undefined ? 0 : parseAddr(`${where}.spm_addr_dev1`, p.spm_addr_dev1),
    spm_type: (p.spm_type as SpmType | undefined) ?? 'generic',
  };
  // One address without the other is checkModuleParams()'s (runner.ts): it explains it with the machine's ranges.
  const given = [params.spm_addr_dev0, params.spm_addr_dev1].filter((a) => a !== 0).length;
  if (given === 0 && p.spm_type !== undefined) {
    throw new UsageError(`${where}.spm_type ${show(p.spm_type)} needs spm_addr_dev0 and spm_addr_dev1 (without them test_hmm makes private devices only)`);
  }
  return params;
}

export function loadConfig(text: string, file: string): HmmTestConfig {
  let doc: unknown;
  try {
    doc = yaml().parse(text);
  } catch (e) {
    // The parser recurses per level: nesting this deep is no configuration (the deepest key, machine.spm[].start, is four levels down).
    if (e instanceof RangeError || /Maximum call stack/.test((e as Error).message)) throw new UsageError(`${file}: nested too deeply to be a configuration; the keys are at most four levels deep (machine.spm[0].start)`);
    throw new UsageError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0].replace(/:$/, '')}`);
  }
  if (doc === null || doc === undefined) return { machine: defaultMachine(), params: null };
  const top = onlyKeys(file, doc, ['machine', 'module', 'kernel', 'patches']);
  const machine = top.machine === undefined ? defaultMachine() : parseMachine(`${file}: machine`, top.machine);
  const params = top.module === undefined ? null : parseModuleParams(`${file}: module`, top.module);
  const kernel = top.kernel === undefined ? undefined : String(top.kernel);
  const v = composeKernel(kernel);
  if ('error' in v) throw new UsageError(`${file}: kernel: ${v.error}`);
  if (top.patches === undefined) return { machine, params, kernel };
  if (!Array.isArray(top.patches) || top.patches.some((x) => typeof x !== 'string')) {
    throw new UsageError(`${file}: patches must be a list of patch names, like [test_hmm-no-evict-on-close] (hmm-test kernels lists them)`);
  }
  const p = composeKernel(kernel, top.patches as string[]);
  if ('error' in p) throw new UsageError(`${file}: patches: ${p.error}`);
  return { machine, params, kernel, patches: top.patches as string[] };
}

