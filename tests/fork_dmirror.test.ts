// SPDX-License-Identifier: GPL-2.0-only
/*
 * fork() under the simulated test_hmm driver: the bodies of upstream's
 * anon_write_child and hmm_cow_in_device (hmm-tests.c 6.12, lines 529 and
 * 2078), written directly against the Task API (fork(), exit(), kill(),
 * exitStatus) that the selftest port's libc layer will wrap. They show the
 * kernel model gives those cases what they check; they are not the ports.
 */
import t from 'tap';
import { Kernel } from '../src/kernel-model/kernel.js';
import { IS_ERR } from '../src/kernel-model/errno.js';
import { Task, SIGTERM, WIFEXITED, WIFSIGNALED, WTERMSIG } from '../src/kernel-model/task.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel-model/mm.js';
import { userLoad, userStore } from '../src/kernel-model/memory.js';
import { hmmDmirrorInit, hmmDmirrorExit, type TestHmm } from '../src/dmirror/test_hmm.js';
import * as U from '../src/dmirror/test_hmm_uapi.js';
import { PRIVATE, GENERIC } from './helpers.js';

const PAGE = 4096;

function boot(params: typeof PRIVATE) {
  const k = new Kernel();
  const { ret, mod } = hmmDmirrorInit(k, params);
  if (ret || !mod) throw new Error(`load failed ${ret}`);
  return { k, mod: mod as TestHmm, task: new Task(k) };
}

function cmd(task: Task, fd: number, req: number, fields: Partial<U.HmmDmirrorCmd>) {
  const c = { ...U.newHmmDmirrorCmd(), ...fields };
  return { ret: task.ioctl(fd, req, c), c };
}

const ints = (n: number, f: (i: number) => number) => {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = f(i);
  return new Uint8Array(a.buffer);
};
const readInts = (task: Task, addr: number, n: number) => {
  const b = new Uint8Array(n * 4);
  userLoad(task.mm, addr, b);
  return new Int32Array(b.buffer);
};

t.test('anon_write_child: the child\'s device write COWs; the parent\'s buffer does not change', (t) => {
  const { k, mod, task: parent } = boot(PRIVATE);
  const npages = 16, size = npages * PAGE, n = size / 4;
  const ptr = parent.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const mirror = parent.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  userStore(parent.mm, ptr, ints(n, (i) => i));
  userStore(parent.mm, mirror, ints(n, (i) => -i));
  const parentFd = parent.open('/dev/hmm_dmirror0'); // the fixture's self->fd, inherited by the child
  const child = parent.fork();
  if (IS_ERR(child)) throw new Error('fork');
  // Child.
  t.ok(readInts(child, ptr, n).every((v, i) => v === i), 'the child sees the parent\'s values');
  const childFd = child.open('/dev/hmm_dmirror0');
  t.ok(childFd > parentFd, 'the child needs its own mirror to its own mm');
  const w = cmd(child, childFd, U.HMM_DMIRROR_WRITE, { addr: ptr, ptr: mirror, npages });
  t.equal(w.ret, 0);
  t.equal(w.c.cpages, npages);
  t.equal(w.c.faults, 1);
  t.ok(readInts(child, ptr, n).every((v, i) => v === -i), 'the child sees what the device wrote');
  child.close(childFd);
  child.exit(0);
  // Parent.
  t.ok(WIFEXITED(child.exitStatus!), 'WIFEXITED');
  t.ok(readInts(parent, ptr, n).every((v, i) => v === i), 'the parent\'s buffer did not change');
  parent.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.end();
});

for (const [name, params] of [['private', PRIVATE], ['generic', GENERIC]] as const) {
  t.test(`hmm_cow_in_device (${name}): after the parent writes every page and the child is killed, SNAPSHOT sees writable system memory`, (t) => {
    const { k, mod, task: parent } = boot(params);
    const npages = 4, size = npages * PAGE, n = size / 4;
    const fd = parent.open('/dev/hmm_dmirror0');
    const ptr = parent.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const mirror = parent.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    userStore(parent.mm, ptr, ints(n, (i) => i));
    const m = cmd(parent, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: ptr, ptr: mirror, npages, alloc_to_devmem: 1 });
    t.equal(m.ret, 0);
    t.equal(m.c.cpages, npages);
    const child = parent.fork();
    if (IS_ERR(child)) throw new Error('fork');
    // The child spins until SIGTERM; the parent writes its COW pages.
    userStore(parent.mm, ptr, ints(n, (i) => i));
    t.equal(child.kill(SIGTERM), 0);
    t.ok(WIFSIGNALED(child.exitStatus!));
    t.equal(WTERMSIG(child.exitStatus!), SIGTERM);
    const s = cmd(parent, fd, U.HMM_DMIRROR_SNAPSHOT, { addr: ptr, ptr: mirror, npages });
    t.equal(s.ret, 0);
    t.equal(s.c.cpages, npages);
    const snap = new Uint8Array(npages);
    userLoad(parent.mm, mirror, snap);
    t.same([...snap], Array(npages).fill(U.HMM_DMIRROR_PROT_WRITE), 'every page HMM_DMIRROR_PROT_WRITE');
    parent.exit();
    t.same(hmmDmirrorExit(mod), []);
    t.equal(k.pageAlloc.nrAllocated, 0);
    t.end();
  });
}
