// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of kernel/fork.c, the address-space half of fork(): dup_mm() and
 * dup_mmap(). The task half (copy_process(): pid, files) is Task.fork() in
 * task.ts.
 *
 * The child gets a copy of every VMA; anon_vma_fork() links each copy into
 * the parent VMA's anon_vmas, so an rmap walk of a page the two share
 * (try_to_migrate(), remove_migration_ptes()) reaches both processes; and
 * copy_page_range() copies the ptes where vma_needs_copy() says a fault
 * could not rebuild them, write-protecting private pages in both (COW).
 */
import type { Kernel } from './kernel.js';
import { type ErrPtr, ERR_PTR } from './errno.js';
import { getFile } from './chrdev.js';
import { MmStruct, VmAreaStruct, VM_DONTCOPY, VM_WIPEONFORK } from './mm.js';
import { anonVmaFork } from './rmap.js';
import { copyPageRange } from './memory.js';

/**
 * Model of vm_area_dup(): a field-for-field copy of the VMA (the C code
 * memcpy()s it), in the new mm, linked to no anon_vma yet.
 */
function vmAreaDup(orig: VmAreaStruct, mm: MmStruct): VmAreaStruct {
  const vma = Object.assign(new VmAreaStruct(mm, orig.vmStart, orig.vmEnd, orig.vmFlags, orig.vmPgoff), orig);
  vma.vmMm = mm;
  vma.anonVmaChain = [];
  return vma;
}

/**
 * Model of dup_mmap(): copy oldmm's VMAs, in order, into the empty mm.
 * For each: anon_vma_fork(), a reference on its file, copy_page_range().
 * 0, or the error that stopped it (the caller tears the partial mm down).
 * A VM_DONTCOPY VMA (MADV_DONTFORK) is left out; a VM_WIPEONFORK one
 * (MADV_WIPEONFORK) is copied without anon_vma and without its ptes, so
 * the child finds fresh zero-filled memory there.
 */
export function dupMmap(mm: MmStruct, oldmm: MmStruct): number {
  for (const mpnt of oldmm.vmas) {
    if (mpnt.vmFlags & VM_DONTCOPY) continue;
    const tmp = vmAreaDup(mpnt, mm);
    if (tmp.vmFlags & VM_WIPEONFORK) tmp.anonVma = null;
    else anonVmaFork(tmp, mpnt);
    mm.mmMt.insert(tmp); // vma_iter_bulk_store()
    if (tmp.vmFile !== null) {
      getFile(tmp.vmFile);
      tmp.vmFile.fMapping?.iMmap.add(tmp); // the child VMA joins the file's i_mmap next to its parent
    }
    if (tmp.vmFlags & VM_WIPEONFORK) continue;
    const ret = copyPageRange(tmp, mpnt);
    if (ret) return ret;
  }
  return 0;
}

/**
 * Model of dup_mm(): a new mm_struct with a copy of oldmm's address space,
 * or ERR_PTR(-ENOMEM) after tearing down what was copied (mmput() of the
 * half-built mm, as copy_mm()'s error path).
 */
export function dupMm(k: Kernel, oldmm: MmStruct): ErrPtr<MmStruct> {
  const mm = new MmStruct(k);
  const ret = dupMmap(mm, oldmm);
  if (ret) {
    mm.mmput();
    return ERR_PTR(ret);
  }
  return mm;
}
