// SPDX-License-Identifier: GPL-2.0-only
// The README's library example: migrate 4 pages to device 0 and read them back through its mirror.
import { boot, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, PAGE_SIZE } from 'hmm-test';

const sys = boot({ machine: { ram: '4G' }, seed: 1 });   // test_hmm with no parameters: two DEVICE_PRIVATE devices
const { libc } = sys;
const fd = sys.openDevice(0);
const npages = 4, size = npages * PAGE_SIZE;
const buf = libc.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
libc.storeInts(buf, size / 4, (i) => i);                   // for (i = 0; i < size / 4; i++) ptr[i] = i;

const m = sys.dmirrorCmd(fd, 'MIGRATE_TO_DEV', { addr: buf, npages });
const r = sys.dmirrorCmd(fd, 'READ', { addr: buf, npages });
const s = sys.dmirrorCmd(fd, 'SNAPSHOT', { addr: buf, npages });
const data = libc.loadInts(r.mirror, size / 4);
console.log(m.trace);                                      // TRACE MIGRATE_TO_DEV npages=4 ret=0 cpages=4 faults=0
console.log(r.trace, data.every((v, i) => v === i) ? 'data ok' : 'data BAD');
console.log(sys.snapshotNames(s.mirror, npages).join(' ')); // DEV_PRIVATE_LOCAL|WRITE x4
libc.close(fd);
console.log(sys.shutdown().length === 0 ? 'clean unload' : 'leaks');
