// SPDX-License-Identifier: GPL-2.0-only
/*
 * The call chain a kernel report prints, taken when the report is made:
 * the JavaScript stack at that moment, its model functions named by their
 * C names, as kernel/kallsyms.c names return addresses for %pS/%pBb.
 * Nothing is recorded on the way in, so it costs nothing until a report.
 *
 * How a model frame gets its C name:
 * - a function of src/kernel-model or src/dmirror: the snake_case of its
 *   camelCase name (dmirrorDoRead -> dmirror_do_read), or RENAMED;
 * - a system call method of Task (task.ts): __x64_sys_<call>, under
 *   do_syscall_64 and entry_SYSCALL_64_after_hwframe, where the trace ends;
 *   a user-mode access (userLoad/userStore) ends it with exc_page_fault and
 *   asm_exc_page_fault;
 * - MODEL_ONLY helpers, anonymous functions and methods of the model's
 *   own classes (page slabs, trees, the scheduler) have no C function and
 *   are left out; the first frame outside the model (user space, a test)
 *   ends the trace;
 * - a function in INLINED folds into its caller, as the compiler folded it
 *   in the real kernel: the RIP and the trace name the caller instead.
 */

/**
 * Functions whose frames fold into their caller, each with why: static
 * inline in a 6.12 header, or inlined by the compiler as a real 6.12 oops
 * shows (issue 10: the reports of the real test_hmm in QEMU).
 */
export const INLINED: ReadonlyMap<string, string> = new Map([
  ['kmap_local_page', 'static inline in include/linux/highmem-internal.h'],
  ['memcpy_from_page', 'static inline in include/linux/highmem.h'],
  ['memcpy_to_page', 'static inline in include/linux/highmem.h'],
  ['copy_highpage', 'static inline in include/linux/highmem.h'],
  ['clear_highpage', 'static inline in include/linux/highmem.h'],
  ['get_page', 'static inline in include/linux/mm.h'],
  ['put_page', 'static inline in include/linux/mm.h'],
  ['dmirror_do_write', 'inlined: the real WRITE-path oops has RIP dmirror_fops_unlocked_ioctl'],
  ['dmirror_write', 'inlined: it lies between dmirror_fops_unlocked_ioctl and the faulting memcpy_to_page() of that RIP'],
  ['dmirror_do_fault', 'inlined: the real WARN_ON() in it is reported at dmirror_fault'],
  ['dmirror_range_fault', 'inlined: it lies between dmirror_fault and dmirror_do_fault() of that WARN'],
]);

/** Model functions whose C name is not the snake_case of theirs. */
const RENAMED: ReadonlyMap<string, string> = new Map([
  ['faultInUserPage', 'do_user_addr_fault'],
  ['doExit', 'do_exit'],
]);

/** Model helpers with no C function of their own (the work of the function that calls them). */
const MODEL_ONLY: ReadonlySet<string> = new Set([
  'BUG_ON', 'checkAddressable', 'pageBytesRead', 'pageBytesWrite', 'slotRead', 'slotWrite', 'slotCopy', 'vmCopy',
  'vmCopyPage', 'copyPageDeferred', 'userCopy', 'underMmapWriteLock', 'wouldSleep', 'hex',
]);

/** Task (task.ts) methods that are system calls, by the C entry point's name. */
const SYSCALLS: ReadonlyMap<string, string> = new Map([
  ['open', 'openat'], ['close', 'close'], ['ioctl', 'ioctl'], ['mmap', 'mmap'], ['munmap', 'munmap'],
  ['mprotect', 'mprotect'], ['madvise', 'madvise'], ['read', 'read'], ['write', 'write'], ['pread', 'pread64'],
  ['pwrite', 'pwrite64'], ['lseek', 'lseek'], ['ftruncate', 'ftruncate'], ['fork', 'fork'], ['exit', 'exit_group'],
  ['kill', 'kill'], ['cloneThread', 'clone'],
]);

/** The general rule: camelCase to the C name (leading underscores kept: __folioSetAnon -> __folio_set_anon). */
export function cName(jsName: string): string {
  return RENAMED.get(jsName) ?? jsName.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** The model's own code: the frames that stand for kernel functions. */
const MODEL_FILE = /\/src\/(kernel-model|dmirror)\//;

/** Stack frames of the caller, innermost first, as [function name ('' if anonymous), file]. */
function jsFrames(): Array<[string, string]> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 200;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const frames: Array<[string, string]> = [];
  for (const line of stack.split('\n').slice(1)) {
    const m = /^\s*at (?:async )?(?:new )?(.*?) \((.*)\)$/.exec(line);
    if (m) frames.push([m[1].replace(/ \[as [^\]]*\]$/, ''), m[2]]);
    else frames.push(['', line.replace(/^\s*at /, '')]);
  }
  return frames;
}

/**
 * The kernel call chain at this moment, innermost first, by C names, with
 * the INLINED functions folded into their callers: [0] is what the RIP
 * names. Frames of the report machinery itself (bug.ts, kernel.ts's
 * warn()) are not in it.
 */
export function callTrace(): string[] {
  const out: string[] = [];
  for (const [name, file] of jsFrames()) {
    if (!MODEL_FILE.test(file)) {
      if (out.length > 0) break;
      continue;
    }
    if (/\/kernel-model\/(bug|kallsyms)\.[jt]s\b/.test(file)) continue;
    const dot = name.lastIndexOf('.');
    const cls = dot < 0 ? '' : name.slice(0, dot), fn = dot < 0 ? name : name.slice(dot + 1);
    if (cls === 'Task') {
      const sys = SYSCALLS.get(fn);
      if (sys !== undefined) {
        out.push(`__x64_sys_${sys}`, 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe');
        break;
      }
      if (fn !== 'doExit' && fn !== 'releaseTask') continue;
    } else if (cls !== '' || fn === '' || fn === '<anonymous>' || MODEL_ONLY.has(fn)) continue;
    if (fn === 'userLoad' || fn === 'userStore') {
      out.push('exc_page_fault', 'asm_exc_page_fault');
      break;
    }
    const c = cName(fn);
    if (!INLINED.has(c)) out.push(c);
  }
  return out;
}
