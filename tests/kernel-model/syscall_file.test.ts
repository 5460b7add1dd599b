// SPDX-License-Identifier: GPL-2.0-only
/*
 * The file syscalls' argument checks: open, close, read, write, pread64,
 * pwrite64, lseek, ftruncate, ioctl. One row per rule of 6.12 (fs/open.c,
 * fs/read_write.c, fs/file.c, fs/ioctl.c), each on a fresh task with a
 * tmpfs file of 2 pages open read-write (rw), one whose f_mode lacks
 * FMODE_WRITE (ro), /dev/hmm_dmirror0 (dev, no ->read/->write) and
 * /sys/kernel/debug/gup_test (gup, nonseekable_open()), and a 2-page
 * buffer at buf.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { Task, RLIMIT_NOFILE_CUR } from '../../src/kernel-model/task.js';
import { EBADF, EFAULT, EFBIG, EINVAL, EISDIR, EMFILE, ENOENT, ENOTDIR, ENOTTY, ESPIPE, errname } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel-model/mm.js';
import { O_DIRECTORY, O_RDONLY, O_RDWR, O_TMPFILE, O_WRONLY, FMODE_WRITE, SEEK_SET } from '../../src/kernel-model/fcntl.js';
import { MAX_LFS_FILESIZE } from '../../src/kernel-model/shmem.js';
import { gupTestInit } from '../../src/kernel-model/gup_test.js';
import { hmmDmirrorInit } from '../../src/dmirror/test_hmm.js';
import * as U from '../../src/dmirror/test_hmm_uapi.js';
import { PRIVATE } from '../helpers.js';

const P = PAGE_SIZE;
interface Ctx { task: Task; rw: number; ro: number; dev: number; gup: number; buf: number }

function ctx(): Ctx {
  const k = new Kernel();
  if (hmmDmirrorInit(k, PRIVATE).ret) throw new Error('test_hmm did not load');
  gupTestInit(k);
  const task = new Task(k);
  const rw = task.open('/tmp', O_TMPFILE | O_RDWR);
  task.ftruncate(rw, 2 * P);
  const ro = task.open('/tmp', O_TMPFILE | O_RDWR);
  task.files.get(ro)!.fMode &= ~FMODE_WRITE;
  const buf = task.mmap(0, 2 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  return { task, rw, ro, dev: task.open('/dev/hmm_dmirror0'), gup: task.open('/sys/kernel/debug/gup_test', O_RDWR), buf };
}

const TOP = 0x7ffffffff000; // USER_PTR_MAX: TASK_SIZE_MAX on x86_64

type Row = [rule: string, call: (c: Ctx) => number, expect: number];
const rows: Row[] = [
  // fs/open.c, fs/namei.c, fs/file.c
  ['do_sys_open(): a path that does not exist -> -ENOENT', (c) => c.task.open('/dev/nothing'), -ENOENT],
  ['do_tmpfile(): O_TMPFILE on a device node (not a directory) -> -ENOTDIR', (c) => c.task.open('/dev/hmm_dmirror0', O_TMPFILE | O_RDWR), -ENOTDIR],
  ['O_DIRECTORY on a device node -> -ENOTDIR', (c) => c.task.open('/dev/hmm_dmirror0', O_DIRECTORY | O_RDONLY), -ENOTDIR],
  ['build_open_flags(): O_TMPFILE without write access -> -EINVAL', (c) => c.task.open('/tmp', O_TMPFILE | O_RDONLY), -EINVAL],
  ['do_open(): a directory opened for writing -> -EISDIR', (c) => c.task.open('/tmp', O_WRONLY), -EISDIR],
  ['alloc_fd(): past RLIMIT_NOFILE (1024) -> -EMFILE', (c) => {
    let fd = 0;
    for (let i = 0; i < RLIMIT_NOFILE_CUR && fd >= 0; i++) fd = c.task.open('/dev/hmm_dmirror1');
    return fd;
  }, -EMFILE],
  ['close_fd(): an fd that is not open -> -EBADF', (c) => c.task.close(99), -EBADF],
  // fs/read_write.c
  ['ksys_read(): fdget_pos() fails -> -EBADF', (c) => c.task.read(99, c.buf, P), -EBADF],
  ['vfs_read(): !(f_mode & FMODE_READ) -> -EBADF', (c) => {
    const fd = c.task.open('/tmp', O_TMPFILE | O_WRONLY);
    return c.task.read(fd, c.buf, P);
  }, -EBADF],
  ['vfs_read(): !(f_mode & FMODE_CAN_READ) (dmirror_fops has no ->read) -> -EINVAL', (c) => c.task.read(c.dev, c.buf, P), -EINVAL],
  ['vfs_read(): !access_ok(buf, count) -> -EFAULT', (c) => c.task.read(c.rw, TOP - P, 2 * P), -EFAULT],
  ['vfs_read(): a "negative" count fails access_ok() first -> -EFAULT', (c) => c.task.read(c.rw, c.buf, -1), -EFAULT],
  ['vfs_read(): a buffer that ends exactly at USER_PTR_MAX passes access_ok()', (c) => {
    c.task.mmap(TOP - P, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    return c.task.pread(c.rw, TOP - P, P, 0);
  }, P],
  ['vfs_read(): count 0 -> 0', (c) => c.task.read(c.rw, c.buf, 0), 0],
  ['ksys_write(): fdget_pos() fails -> -EBADF', (c) => c.task.write(99, c.buf, P), -EBADF],
  ['vfs_write(): !(f_mode & FMODE_WRITE) -> -EBADF', (c) => c.task.write(c.ro, c.buf, P), -EBADF],
  ['vfs_write(): !(f_mode & FMODE_CAN_WRITE) (no ->write) -> -EINVAL', (c) => c.task.write(c.dev, c.buf, P), -EINVAL],
  ['vfs_write(): !access_ok(buf, count) -> -EFAULT', (c) => c.task.write(c.rw, -P, P), -EFAULT],
  ['ksys_pread64(): pos < 0 -> -EINVAL before the fd is looked at', (c) => c.task.pread(99, c.buf, P, -1), -EINVAL],
  ['ksys_pread64(): a bad fd -> -EBADF', (c) => c.task.pread(99, c.buf, P, 0), -EBADF],
  ['ksys_pread64(): !(f_mode & FMODE_PREAD) (nonseekable_open()) -> -ESPIPE', (c) => c.task.pread(c.gup, c.buf, P, 0), -ESPIPE],
  ['ksys_pwrite64(): pos < 0 -> -EINVAL', (c) => c.task.pwrite(99, c.buf, P, -P), -EINVAL],
  ['ksys_pwrite64(): !(f_mode & FMODE_PWRITE) -> -ESPIPE', (c) => c.task.pwrite(c.gup, c.buf, P, 0), -ESPIPE],
  ['rw_verify_area(): pos + count past LLONG_MAX -> -EINVAL', (c) => c.task.pwrite(c.rw, c.buf, P, MAX_LFS_FILESIZE - 1), -EINVAL],
  ['pread64() past EOF -> 0', (c) => c.task.pread(c.rw, c.buf, P, 10 * P), 0],
  ['ksys_lseek(): a bad fd -> -EBADF', (c) => c.task.lseek(99, 0, SEEK_SET), -EBADF],
  ['ksys_lseek(): whence > SEEK_MAX -> -EINVAL', (c) => c.task.lseek(c.rw, 0, 5), -EINVAL],
  ['vfs_llseek(): no FMODE_LSEEK (nonseekable_open()) -> -ESPIPE', (c) => c.task.lseek(c.gup, 0, SEEK_SET), -ESPIPE],
  ['shmem_file_llseek() -> generic_file_llseek_size(): a negative result -> -EINVAL', (c) => c.task.lseek(c.rw, -1, SEEK_SET), -EINVAL],
  // do_sys_ftruncate(), do_ftruncate()
  ['do_sys_ftruncate(): length < 0 -> -EINVAL before the fd is looked at', (c) => c.task.ftruncate(99, -1), -EINVAL],
  ['do_sys_ftruncate(): a bad fd -> -EBADF', (c) => c.task.ftruncate(99, 0), -EBADF],
  ['do_ftruncate(): not a regular file -> -EINVAL', (c) => c.task.ftruncate(c.dev, 0), -EINVAL],
  ['do_ftruncate(): not open for writing -> -EINVAL', (c) => c.task.ftruncate(c.ro, 0), -EINVAL],
  ['inode_newsize_ok(): past s_maxbytes -> -EFBIG', (c) => c.task.ftruncate(c.rw, 2 ** 64), -EFBIG],
  // fs/ioctl.c
  ['ioctl(): a bad fd -> -EBADF', (c) => c.task.ioctl(99, U.HMM_DMIRROR_READ, U.newHmmDmirrorCmd()), -EBADF],
  ['vfs_ioctl(): a tmpfs file has no ->unlocked_ioctl -> -ENOTTY', (c) => c.task.ioctl(c.rw, U.HMM_DMIRROR_READ, U.newHmmDmirrorCmd()), -ENOTTY],
];

for (const [rule, call, expect] of rows) {
  t.test(rule, async (t) => {
    const got = call(ctx());
    t.equal(got, expect, `${errname(expect)} (got ${errname(got)})`);
  });
}

t.test('read() clamps to MAX_RW_COUNT and stops at EOF: a huge count reads the file', async (t) => {
  const c = ctx();
  t.equal(c.task.write(c.rw, c.buf, 2 * P), 2 * P);
  t.equal(c.task.pread(c.rw, c.buf, 2 * P, 0), 2 * P);
  t.equal(c.task.write(c.rw, c.buf, 0), 0);
});
