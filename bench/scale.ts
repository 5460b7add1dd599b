// SPDX-License-Identifier: GPL-2.0-only
/*
 * Scale steps of npm run bench: costs that must grow with the work, not
 * faster (issue 10, item 8). Each step checks what it built.
 *
 * - mmaps: n one-page anonymous mmap()s, alternating PROT_READ and
 *   PROT_READ|PROT_WRITE so that none merges (n VMAs, each right below the
 *   last, as top-down get_unmapped_area() places them); then one mprotect()
 *   over all of them, which gives them one protection and merges them into
 *   one VMA (vma_modify_flags() VMA by VMA).
 * - fork chain: each process forks the next, which reads what its parent
 *   wrote, writes its own value (a COW copy) and lives on while its parent
 *   exits and is reaped (as init reaps an orphan). 6.12 bounds the
 *   anon_vma hierarchy of such a chain: anon_vma_clone() reuses an
 *   anon_vma left with no VMA and one child, so each VMA's chain stays at 3.
 * - alive chain: the same with every parent waiting (alive) until the end.
 *   There 6.12 links each new VMA into every ancestor's anon_vma, depth + 1
 *   anon_vma_chain entries for the process at that depth: quadratic in the
 *   kernel too, so this step shows the kernel's count, not a bound.
 */
import { Kernel } from '../src/kernel-model/kernel.js';
import { Task } from '../src/kernel-model/task.js';
import { IS_ERR } from '../src/kernel-model/errno.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, VM_READ, VM_WRITE, vmaLookup } from '../src/kernel-model/mm.js';
import { userLoad, userStore } from '../src/kernel-model/memory.js';

const PAGE = 4096;
const now = () => performance.now();
const heap = (): number => {
  global.gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

export interface VmaScale { vmas: number; mmapMs: number; mprotectMs: number; munmapMs: number }

/** n mmap()s that do not merge, one mprotect() over them all, one munmap() of everything. */
export function vmaScale(n: number): VmaScale {
  const k = new Kernel();
  const task = new Task(k);
  const t0 = now();
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const a = task.mmap(0, PAGE, i & 1 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (a < 0 || (i > 0 && a !== prev - PAGE)) throw new Error(`mmaps: mmap ${i} returned ${a}, not the page below the last`);
    prev = a;
  }
  const mmapMs = now() - t0;
  if (task.mm.mapCount !== n) throw new Error(`mmaps: ${task.mm.mapCount} VMAs, want ${n}`);
  const low = prev, high = prev + n * PAGE;
  const t1 = now();
  const ret = task.mprotect(low, n * PAGE, PROT_READ);
  const mprotectMs = now() - t1;
  const vma = vmaLookup(task.mm, low);
  if (ret !== 0 || task.mm.mapCount !== 1 || vma === null || vma.vmStart !== low || vma.vmEnd !== high ||
    (vma.vmFlags & (VM_READ | VM_WRITE)) !== VM_READ) throw new Error(`mprotect: ${ret}, ${task.mm.mapCount} VMAs, want one read-only VMA`);
  const bad = task.mm.mmMt.validate();
  if (bad !== null) throw new Error(`mprotect: mt_validate: ${bad}`);
  const t2 = now();
  const unmapped = task.munmap(low, n * PAGE);
  const munmapMs = now() - t2;
  const left = task.mm.vmas.length;
  if (unmapped !== 0 || left !== 0) throw new Error(`munmap: ${unmapped}, ${left} VMAs left`);
  task.exit(0);
  return { vmas: n, mmapMs: +mmapMs.toFixed(1), mprotectMs: +mprotectMs.toFixed(1), munmapMs: +munmapMs.toFixed(1) };
}

export interface ForkScale { depth: number; ms: number; MB: number; bytesPerFork: number; anonVmaChain: number }

/** A chain of `depth` forks; `alive`: every parent stays until the end instead of exiting. */
export function forkChain(depth: number, alive: boolean): ForkScale {
  const k = new Kernel();
  let task = new Task(k);
  const addr = task.mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const w = new Int32Array(1), r = new Int32Array(1);
  const rb = new Uint8Array(r.buffer), wb = new Uint8Array(w.buffer);
  userStore(task.mm, addr, wb);
  const chain: Task[] = [task];
  const m0 = heap(), t0 = now();
  for (let i = 1; i <= depth; i++) {
    const child = task.fork();
    if (IS_ERR(child)) throw new Error(`fork chain: fork ${i} failed: ${child.err}`);
    userLoad(child.mm, addr, rb);
    if (r[0] !== i - 1) throw new Error(`fork chain: generation ${i} reads ${r[0]}, want ${i - 1}`);
    w[0] = i;
    userStore(child.mm, addr, wb);
    if (alive) chain.push(child);
    else {
      task.exit(0);
      task.releaseTask();
    }
    task = child;
  }
  const ms = now() - t0;
  const bytes = heap() - m0;
  const anonVmaChain = vmaLookup(task.mm, addr)!.anonVmaChain.length;
  if (!alive && anonVmaChain > 3) throw new Error(`fork chain: the last VMA is in ${anonVmaChain} anon_vmas (6.12 keeps 3)`);
  if (alive && anonVmaChain !== depth + 1) throw new Error(`alive chain: ${anonVmaChain} anon_vmas, 6.12 links ${depth + 1}`);
  for (const t of alive ? chain.reverse() : [task]) t.exit(0);
  if (k.pageAlloc.nrAllocated !== 0) throw new Error(`fork chain: ${k.pageAlloc.nrAllocated} pages left after every exit`);
  return { depth, ms: +ms.toFixed(1), MB: +(bytes / 1e6).toFixed(1), bytesPerFork: Math.round(bytes / depth), anonVmaChain };
}
