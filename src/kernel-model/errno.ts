// SPDX-License-Identifier: GPL-2.0-only
/*
 * The errno values the model and the driver return, as in
 * include/uapi/asm-generic/errno-base.h. Expected failures travel as
 * negative numbers, exactly like the C code; nothing here throws.
 */
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const ENXIO = 6;
/* Returned by the syscalls' argument checks (mm/mmap.c, fs/). */
export const ENOTDIR = 20;
export const EMFILE = 24;
export const EFBIG = 27;
export const EOVERFLOW = 75;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENOTTY = 25;
export const ESPIPE = 29;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
/** Inside gup only: follow_page_pte() asking for an unshare fault. */
export const EMLINK = 31;

const NAMES: Record<number, string> = {
  [ENOTDIR]: 'ENOTDIR', [EMFILE]: 'EMFILE', [EFBIG]: 'EFBIG', [EOVERFLOW]: 'EOVERFLOW',
  [EPERM]: 'EPERM', [ENOENT]: 'ENOENT', [ESRCH]: 'ESRCH', [EINTR]: 'EINTR', [ENXIO]: 'ENXIO',
  [EBADF]: 'EBADF', [ECHILD]: 'ECHILD', [EAGAIN]: 'EAGAIN', [ENOMEM]: 'ENOMEM', [EACCES]: 'EACCES', [EFAULT]: 'EFAULT', [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST', [ENODEV]: 'ENODEV', [EISDIR]: 'EISDIR', [EINVAL]: 'EINVAL', [ENOTTY]: 'ENOTTY', [ESPIPE]: 'ESPIPE', [ERANGE]: 'ERANGE',
  [EMLINK]: 'EMLINK', [EOPNOTSUPP]: 'EOPNOTSUPP',
};

/** "-EFAULT" for -14, "0" for 0: for log lines and error messages. */
export function errname(ret: number): string {
  if (ret === 0) return '0';
  const n = NAMES[-ret];
  return n ? `-${n}` : String(ret);
}

/** Model of include/linux/err.h: ERR_PTR()/IS_ERR() for functions that return a pointer or an error. */
export type ErrPtr<T> = T | { err: number };
export function ERR_PTR(err: number): { err: number } { return { err }; }
export function IS_ERR<T>(p: ErrPtr<T> | null): p is { err: number } {
  return p !== null && typeof p === 'object' && 'err' in (p as object) && Object.keys(p as object).length === 1;
}
export function PTR_ERR(p: { err: number }): number { return p.err; }
