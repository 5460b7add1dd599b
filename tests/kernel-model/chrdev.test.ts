// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/chrdev.ts and Task.lseek(): opening a /dev node
 * (do_dentry_open() with chrdev_open()) and seeking it (ksys_lseek(),
 * vfs_llseek(), default_llseek()). Whether a file can be seeked is decided
 * at open: FMODE_LSEEK stays only if the driver's file_operations have an
 * ->llseek and its ->open() did not call nonseekable_open().
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EINVAL, ENXIO, ESPIPE } from '../../src/kernel-model/errno.js';
import { type FileOperations, defaultLlseek, nonseekableOpen } from '../../src/kernel-model/chrdev.js';
import { FMODE_LSEEK, FMODE_PREAD, FMODE_PWRITE, FMODE_READ, FMODE_WRITE, O_RDONLY, O_RDWR, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE,
  SEEK_SET } from '../../src/kernel-model/fcntl.js';
import { GUP_TEST_PATH, gupTestInit } from '../../src/kernel-model/gup_test.js';
import { Task } from '../../src/kernel-model/task.js';

/** A kernel with /dev/x registered with these file_operations, and a task. */
function withDev(fops: Partial<FileOperations>): { k: Kernel; task: Task } {
  const k = new Kernel();
  k.chrdevs.set('/dev/x', { path: '/dev/x', major: 10, minor: 0, owner: {},
    fops: { open: () => 0, release: () => 0, unlockedIoctl: () => -25, ...fops } });
  return { k, task: new Task(k) };
}

t.test('a driver with .llseek = default_llseek (as dmirror_fops): positions on a device node of size 0', async (t) => {
  const { task } = withDev({ llseek: defaultLlseek });
  const fd = task.open('/dev/x', O_RDWR);
  t.ok(fd >= 0);
  const filp = task.files.get(fd)!;
  // do_dentry_open() sets FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE (fs/open.c).
  t.equal(filp.fMode, FMODE_READ | FMODE_WRITE | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE, 'do_dentry_open() kept FMODE_LSEEK');
  t.equal(task.lseek(fd, 100, SEEK_SET), 100, 'SEEK_SET');
  t.equal(task.lseek(fd, 0, SEEK_CUR), 100, 'SEEK_CUR 0 tells the position');
  t.equal(task.lseek(fd, -10, SEEK_CUR), 90, 'SEEK_CUR back');
  t.equal(task.lseek(fd, 5, SEEK_END), 5, 'SEEK_END: i_size is 0');
  t.equal(task.lseek(fd, -1, SEEK_SET), -EINVAL, 'a negative position');
  t.equal(filp.fPos, 5, 'leaves f_pos alone');
  t.equal(task.lseek(fd, 0, SEEK_DATA), -ENXIO, 'SEEK_DATA at i_size');
  t.equal(task.lseek(fd, 0, SEEK_HOLE), -ENXIO, 'SEEK_HOLE at i_size');
  t.equal(task.lseek(fd, 0, SEEK_HOLE + 1), -EINVAL, 'whence past SEEK_MAX (ksys_lseek())');
  t.equal(task.lseek(fd, 0, -1), -EINVAL, 'whence is unsigned');
});

t.test('file_operations without ->llseek, or an ->open() calling nonseekable_open(): -ESPIPE', async (t) => {
  const none = withDev({});
  const fd = none.task.open('/dev/x', O_RDONLY);
  t.equal(none.task.files.get(fd)!.fMode, FMODE_READ | FMODE_PREAD | FMODE_PWRITE, 'no FMODE_LSEEK without ->llseek (only it is dropped)');
  t.equal(none.task.lseek(fd, 0, SEEK_SET), -ESPIPE);
  const nonseekable = withDev({ open: (_cdev, filp) => nonseekableOpen(filp), llseek: defaultLlseek });
  t.equal(nonseekable.task.lseek(nonseekable.task.open('/dev/x'), 0, SEEK_SET), -ESPIPE, 'even with an ->llseek');
  const k = new Kernel();
  gupTestInit(k);
  const task = new Task(k);
  t.equal(task.lseek(task.open(GUP_TEST_PATH), 0, SEEK_SET), -ESPIPE, 'gup_test_fops: .open = nonseekable_open');
});
