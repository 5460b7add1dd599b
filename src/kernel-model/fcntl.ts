// SPDX-License-Identifier: GPL-2.0-only
/*
 * open(2) flags and lseek(2) whences (include/uapi/asm-generic/fcntl.h,
 * include/uapi/linux/fs.h), and the f_mode bits the VFS derives from them
 * (include/linux/fs.h).
 */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_DIRECTORY = 0o200000;
/** O_TMPFILE includes O_DIRECTORY, so that kernels without it fail the open. */
export const O_TMPFILE = 0o20000000 | O_DIRECTORY;

export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
export const SEEK_MAX = SEEK_HOLE;

export const FMODE_READ = 0x1;
export const FMODE_WRITE = 0x2;
/** The file may be lseek()ed: set at open, dropped when its file_operations have no ->llseek or by nonseekable_open(). */
export const FMODE_LSEEK = 0x4;
/** pread()/pwrite() may be used: set at open with FMODE_LSEEK, dropped by nonseekable_open() (else -ESPIPE). */
export const FMODE_PREAD = 0x8;
export const FMODE_PWRITE = 0x10;

/**
 * Model of OPEN_FMODE() (include/linux/fs.h): the access mode plus one is
 * FMODE_READ/FMODE_WRITE (O_RDONLY -> READ, O_WRONLY -> WRITE, O_RDWR -> both).
 */
export const openFmode = (flags: number): number => (flags + 1) & O_ACCMODE;
