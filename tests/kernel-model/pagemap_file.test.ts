// SPDX-License-Identifier: GPL-2.0-only
/*
 * /proc/self/pagemap as a file (task_mmu.ts PagemapFile, pagemap_read()):
 * pread() of whole entries at entry-aligned offsets gives pagemapRead() of
 * each page, of the opener's mm; anything else is the C's errno.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { Task } from '../../src/kernel-model/task.js';
import { EBADF, EFAULT, EINVAL } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel-model/mm.js';
import { O_RDONLY } from '../../src/kernel-model/fcntl.js';
import { PM_PRESENT, PM_SWAP, pagemapRead } from '../../src/kernel-model/task_mmu.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';

function entries(task: Task, fd: number, buf: number, addr: number, n: number): bigint[] {
  const ret = task.pread(fd, buf, 8 * n, (addr / PAGE_SIZE) * 8);
  if (ret !== 8 * n) throw new Error(`pread returned ${ret}`);
  const bytes = new Uint8Array(8 * n);
  userLoad(task.mm, buf, bytes);
  const v = new DataView(bytes.buffer);
  return Array.from({ length: n }, (_, i) => v.getBigUint64(8 * i, true));
}

t.test('pread() of pagemap entries', async (t) => {
  const k = new Kernel(), task = new Task(k);
  const p = task.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = task.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  userStore(task.mm, buf, new Uint8Array(1)); // the buffer itself faulted in first
  userStore(task.mm, p + PAGE_SIZE, new Uint8Array([7]));
  const fd = task.open('/proc/self/pagemap', O_RDONLY);
  t.ok(fd >= 3, 'open gives an fd');
  const e = entries(task, fd, buf, p, 4);
  t.equal(e[0], 0n, 'an untouched page reads 0 (pagemap_pte_hole)');
  t.ok(e[1] & PM_PRESENT, 'the written page is present');
  t.equal(e[1] & PM_SWAP, 0n, 'and not swapped');
  t.same(e, [0, 1, 2, 3].map((i) => pagemapRead(task.mm, p + i * PAGE_SIZE)), 'each entry is pagemapRead() of its page');
  t.equal(task.pread(fd, buf, 8, (p / PAGE_SIZE) * 8 + 4), -EINVAL, 'an offset inside an entry: -EINVAL');
  t.equal(task.pread(fd, buf, 12, (p / PAGE_SIZE) * 8), -EINVAL, 'a count of part of an entry: -EINVAL');
  t.equal(task.pread(fd, 0x1000, 8, (p / PAGE_SIZE) * 8), -EFAULT, 'an unmapped buffer: -EFAULT');
  t.equal(task.write(fd, buf, 8), -EBADF, 'write() of a file opened O_RDONLY: -EBADF (vfs_write() checks f_mode first)');
});

t.test('the file walks the opener\'s mm, not the reader\'s', async (t) => {
  const k = new Kernel(), a = new Task(k);
  const p = a.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = a.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const fd = a.open('/proc/self/pagemap', O_RDONLY);
  userStore(a.mm, p, new Uint8Array([1]));
  t.ok(entries(a, fd, buf, p, 1)[0] & PM_PRESENT, 'the page written after open() is seen through the open file');
  a.munmap(p, PAGE_SIZE);
  t.equal(entries(a, fd, buf, p, 1)[0], 0n, 'and gone after munmap');
});
