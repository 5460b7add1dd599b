// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test run --emit-c FILE: the scenario as a standalone C program for a
 * real kernel with test_hmm loaded. It performs the same actions and prints
 * the same observation lines as the interpreter (run.ts) — TRACE, DATA,
 * SIGNAL, EXIT and the system call lines — so `diff` can line the two up.
 * Expectations are not checked in C: the model's log is the expectation.
 * What the C program cannot print: REPORT and UNLOAD lines (the kernel's
 * log, collected around the run) and --show pages maps.
 *
 * Only libc and pthreads; test_hmm_uapi.h's numbers are restated in the
 * program (the header is not installed anywhere CI can find it). Builds
 * with `gcc -static -pthread`.
 *
 * Schedules: a forked child blocks on a pipe until its parent has printed
 * its FORK line, and with `wait: later` until the parent waits for it: the
 * schedule the model runs; threads sleep with
 * nanosleep() and /dev/urandom, so racy scenarios may legitimately differ.
 * A schedule the scenario pins (config.schedule) cannot be forced on a
 * real kernel: the program says so in a comment and a last "#" line, and runs
 * the threads as they come.
 *
 * stdout is line-buffered, so each line is one write(): in scripts/kbox the
 * program's stdout is /dev/kmsg, where a write is one log record, in order
 * with the kernel's reports. "# pid N NAME" comment lines say which process
 * or thread is which scenario process, so a report's PID can be named.
 */
import type { Scenario, Step, Pattern } from './scenario.js';
import { ERRNOS, REQUESTS, SIGNALS } from './names.js';
import { memoryMode } from '../dmirror/test_hmm.js';

const PRELUDE = String.raw`#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

/*
 * The test_hmm ioctl ABI (lib/test_hmm_uapi.h in 6.12; the seed's v5 in
 * its 000 patches 09 and 11), restated: one command structure, five
 * 64-bit fields in 6.12; the v5 structure adds two 32-bit fields, so its
 * request numbers (which encode the size) differ from 6.12's.
 */
struct dmirror_cmd { uint64_t addr, ptr, npages, cpages, faults; };
struct dmirror_cmd_v5 { uint64_t addr, ptr, npages, cpages, faults; uint32_t zone_device_type, alloc_to_devmem; };
#define REQ(nr) _IOWR('H', nr, struct dmirror_cmd)
#define REQ_V5(nr) _IOWR('H', nr, struct dmirror_cmd_v5)

#define PAGE 4096UL
static __thread const char *label = "";
static int generic_mode = GENERIC_MODE;

struct buffer { const char *name; char *addr; unsigned long pages; };
static struct buffer bufs[64];
static int nbufs;

static const char *errname(int ret)
{
	static __thread char num[32];
	if (ret >= 0) { snprintf(num, sizeof(num), "%d", ret); return num; }
	switch (-ret) {
ERRNO_CASES
	}
	snprintf(num, sizeof(num), "%d", ret);
	return num;
}

static const char *signame(int sig)
{
	switch (sig) {
SIGNAL_CASES
	}
	return "signal";
}

/* A fatal signal of a load or store: say where, then die of it as the process would have. */
static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%sSIGNAL %s", label, signame(sig));
	(void)uc;
	for (int i = 0; i < nbufs; i++) {
		char *a = si->si_addr;
		if (a >= bufs[i].addr && a < bufs[i].addr + bufs[i].pages * PAGE) {
			n += snprintf(line + n, sizeof(line) - n, " %s page %lu", bufs[i].name, (unsigned long)((a - bufs[i].addr) / PAGE));
			break;
		}
	}
	line[n++] = '\n';
	if (write(1, line, n) < 0) {}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The interpreter's patterns, int by int from the buffer's start: 0 index+k, 1 -index, 2 the constant k. */
static inline int32_t pat(int kind, int64_t k, uint64_t o)
{
	return kind == 0 ? (int32_t)(o + k) : kind == 1 ? (int32_t)(-(int64_t)o) : (int32_t)k;
}

static struct buffer *buf(const char *name)
{
	for (int i = 0; i < nbufs; i++) if (!strcmp(bufs[i].name, name)) return &bufs[i];
	abort();
}

static void range_text(char *out, size_t n, const char *name, unsigned long first, unsigned long count)
{
	if (count > 1) snprintf(out, n, "%s pages=%lu-%lu", name, first, first + count - 1);
	else snprintf(out, n, "%s pages=%lu", name, first);
}

/* A DATA line: against the pattern when one is expected, else the FNV-1a of the bytes. */
static void data_line(const char *what, const char *name, unsigned long first, unsigned long count, const int32_t *got,
		      int have, int kind, int64_t k, const char *text)
{
	char r[128];
	unsigned long n = count * PAGE / 4, base = first * PAGE / 4;
	range_text(r, sizeof(r), name, first, count);
	if (!have) {
		uint32_t h = 0x811c9dc5;
		const unsigned char *b = (const unsigned char *)got;
		for (unsigned long i = 0; i < n * 4; i++) h = (h ^ b[i]) * 0x01000193;
		printf("%sDATA %s %s fnv1a=0x%08x\n", label, what, r, h);
		return;
	}
	for (unsigned long i = 0; i < n; i++) {
		if (got[i] != pat(kind, k, base + i)) {
			printf("%sDATA %s %s != %s: page %lu int %lu is %d, expected %d\n", label, what, r, text,
			       first + i / 1024, i % 1024, got[i], pat(kind, k, base + i));
			return;
		}
	}
	printf("%sDATA %s %s = %s\n", label, what, r, text);
}

static void store(const char *name, unsigned long first, unsigned long count, int kind, int64_t k, const char *text)
{
	char r[128];
	int32_t *p = (int32_t *)(buf(name)->addr + first * PAGE);
	unsigned long n = count * PAGE / 4, base = first * PAGE / 4;
	for (unsigned long i = 0; i < n; i++) p[i] = pat(kind, k, base + i);
	range_text(r, sizeof(r), name, first, count);
	printf("%sSTORE %s %s\n", label, r, text);
}

static void load(const char *name, unsigned long first, unsigned long count, int have, int kind, int64_t k, const char *text)
{
	size_t size = count * PAGE;
	int32_t *copy = malloc(size);
	memcpy(copy, buf(name)->addr + first * PAGE, size);
	data_line("LOAD", name, first, count, copy, have, kind, k, text);
	free(copy);
}

static const char *prot_name(unsigned v, char *out, size_t n)
{
	static const char *kinds[] = { 0, "ZERO", "DEV_PRIVATE_LOCAL", "DEV_PRIVATE_REMOTE", "DEV_COHERENT_LOCAL", "DEV_COHERENT_REMOTE" };
	size_t len = 0;
	out[0] = 0;
	if (v == 0xff) return "ERROR";
	if (v == 0) return "NONE";
	if (v & 0xf0) {
		const char *kn = (v >> 4) == 4 && generic_mode ? "DEV_GENERIC" : (v >> 4) < 6 ? kinds[v >> 4] : "?";
		len += snprintf(out + len, n - len, "%s", kn);
	}
	if (v & 1) len += snprintf(out + len, n - len, "%sREAD", len ? "|" : "");
	if (v & 2) len += snprintf(out + len, n - len, "%sWRITE", len ? "|" : "");
	if (v & 4) len += snprintf(out + len, n - len, "%sPMD", len ? "|" : "");
	if (v & 8) len += snprintf(out + len, n - len, "%sPUD", len ? "|" : "");
	return out;
}

static void snapshot_line(const char *name, unsigned long first, unsigned long count, const unsigned char *m)
{
	char r[128], a[96], b[96];
	range_text(r, sizeof(r), name, first, count);
	printf("%sDATA SNAPSHOT %s", label, r);
	for (unsigned long i = 0; i < count;) {
		unsigned long j = i;
		const char *ni = prot_name(m[i], a, sizeof(a));
		while (j < count && !strcmp(prot_name(m[j], b, sizeof(b)), ni)) j++;
		if (j - i > 1) printf(" %s*%lu", ni, j - i);
		else printf(" %s", ni);
		i = j;
	}
	printf("\n");
}

/* hmm-tests.c's hmm_dmirror_cmd(): one ioctl, restarted on EINTR, and its TRACE line. */
static int dmirror_cmd(int fd, unsigned long req, int v5, const char *name, void *addr, unsigned long npages, void *mirror,
		       int alloc, uint64_t *cpages, uint64_t *faults, uint32_t *type)
{
	struct dmirror_cmd c = { (uint64_t)(uintptr_t)addr, (uint64_t)(uintptr_t)mirror, npages, 0, 0 };
	struct dmirror_cmd_v5 c5 = { (uint64_t)(uintptr_t)addr, (uint64_t)(uintptr_t)mirror, npages, 0, 0, 0, (uint32_t)alloc };
	int ret;
	for (;;) {
		ret = ioctl(fd, req, v5 ? (void *)&c5 : (void *)&c);
		if (ret == 0) break;
		if (errno == EINTR) continue;
		ret = -errno;
		break;
	}
	*cpages = v5 ? c5.cpages : c.cpages;
	*faults = v5 ? c5.faults : c.faults;
	*type = c5.zone_device_type;
	printf("%sTRACE %s npages=%lu ret=%d cpages=%lu faults=%lu\n", label, name, npages, ret,
	       (unsigned long)*cpages, (unsigned long)*faults);
	return ret;
}

static void sys_line(const char *what, const char *name, unsigned long first, unsigned long count, const char *extra, int r)
{
	char t[128];
	range_text(t, sizeof(t), name, first, count);
	printf("%s%s %s%s ret=%s\n", label, what, t, extra, errname(r < 0 ? -errno : 0));
}

static unsigned hmm_random(void)
{
	static int fd = -1;
	unsigned r = 0;
	if (fd < 0) fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, &r, sizeof(r)) != sizeof(r)) return 0;
	return r;
}

static void sleep_ns(unsigned long ns)
{
	struct timespec t = { ns / 1000000000UL, ns % 1000000000UL };
	while (nanosleep(&t, &t) && errno == EINTR) {}
}

static void exit_line(const char *name, int status)
{
	if (WIFSIGNALED(status)) printf("%sEXIT %s killed by %s\n", label, name, signame(WTERMSIG(status)));
	else printf("%sEXIT %s exited %d\n", label, name, WEXITSTATUS(status));
}
`;

const cstr = (s: string): string => JSON.stringify(s);
/** A page range as the trace writes it: first, or first-last. */
const pagesC = (r: { first: number; count: number }): string => `${r.first}${r.count > 1 ? `-${r.first + r.count - 1}` : ''}`;

/** A pattern as pat()'s (kind, k) and its text. */
function patParts(p: Pattern): string {
  const t = p.text;
  if (t === 'zero') return `2, 0, ${cstr(t)}`;
  if (t === '-index') return `1, 0, ${cstr(t)}`;
  if (/^0x/i.test(t)) return `2, ${p.at(0)}, ${cstr(t)}`;
  const m = /^index(?:\s*([+-])\s*(\d+))?$/.exec(t)!;
  return `0, ${m[1] === '-' ? '-' : ''}${m[2] ?? 0}LL, ${cstr(t)}`;
}
/** An expected pattern as data_line()'s (have, kind, k, text). */
const expectArgs = (p: Pattern | null | undefined): string => (p ? `1, ${patParts(p)}` : `0, 0, 0, ""`);

class Emitter {
  private readonly fns: string[] = [];
  private nthreads = 0;
  private readonly generic: boolean;
  constructor(private readonly sc: Scenario) {
    this.generic = memoryMode(sc.config.params) === 'generic';
  }

  program(): string {
    const body = this.steps(this.sc.steps, '\t');
    const prelude = PRELUDE
      .replace('GENERIC_MODE', this.generic ? '1' : '0')
      .replace('ERRNO_CASES', [...ERRNOS].map(([n, v]) => `\tcase ${v}: return "-${n}";`).join('\n'))
      .replace('SIGNAL_CASES', [...SIGNALS].map(([n, v]) => `\tcase ${v}: return "${n}";`).join('\n'));
    return [`/* Generated by hmm-test run --emit-c from ${this.sc.file}: ${this.sc.name}.`,
      ' * Run as root with test_hmm loaded (as the scenario configures it); compare its output with',
      ` * the model's: hmm-test run ${this.sc.file} > model.log; hmm-test diff model.log real.log`,
      ...this.typeNote(), ' */',
      ...this.pinnedNote(),
      prelude, ...this.fns,
      'int main(void)', '{', '\tstruct sigaction sa = { 0 };', '\tstatic int fds[64];', '\tstatic pid_t pids[64];', '\tstatic int gates[64][2];',
      '\tstatic pthread_t threads[64];', '\tint ret, status;', '\tuint64_t cpages, faults;', '\tuint32_t type;',
      '\t(void)ret; (void)status; (void)cpages; (void)faults; (void)type; (void)fds; (void)pids; (void)gates; (void)threads;',
      '\tsetvbuf(stdout, NULL, _IOLBF, 0);',
      `\tprintf("# scenario %s: %s\\n", ${cstr(this.sc.file)}, ${cstr(this.sc.name)});`,
      '\tprintf("# pid %d\\n", (int)getpid());',
      '\tsa.sa_sigaction = on_fatal;', '\tsa.sa_flags = SA_SIGINFO;', '\tsigaction(SIGSEGV, &sa, NULL);', '\tsigaction(SIGBUS, &sa, NULL);',
      body,
      // At the end: the log's head is what the kbox and the tests read first.
      ...(this.sc.config.schedule ? [`\tprintf("# schedule %s was pinned in the model only: the threads here ran as the kernel scheduled them\\n", ${cstr(this.sc.config.schedule.id)});`] : []),
      '\treturn 0;', '}', ''].join('\n');
  }

  /** The pinned schedule's comment: what the model replays, and that the real kernel may well not run it. */
  private pinnedNote(): string[] {
    const pin = this.sc.config.schedule;
    if (pin === undefined) return [];
    return [`/* The scenario pins schedule ${pin.id} (config.schedule): the model replays that interleaving of its threads`,
      ' * (hmm-test explore --schedule ID shows where each switch is). C cannot force it: the threads below run as',
      ' * the kernel schedules them, so this program sees the pinned outcome only when the race goes that way. */'];
  }

  /** What a real kernel can run of a scenario for a memory type 6.12 does not have. */
  private typeNote(): string[] {
    const mode = memoryMode(this.sc.config.params);
    if (mode === 'generic') {
      return [' * The scenario is for seed 000\'s DEVICE_GENERIC devices and v5 UAPI (generic_mode below): only the seed\'s',
        ' * test_hmm has them; 6.12 rejects the seed\'s request numbers with -EINVAL.'];
    }
    if (mode === 'public') {
      return [' * The scenario is for seed 004\'s DEVICE_PUBLIC devices (merged in 4.14, removed in 5.3, before lib/test_hmm.c',
        ' * came in 5.7): no kernel with test_hmm has them. With spm_addr_dev0/1 set, 6.12\'s devices 2 and 3 are DEVICE_COHERENT: the output',
        ' * then is COHERENT\'s and differs from the model\'s where the two types differ.'];
    }
    return [];
  }

  private readonly fdIds = new Map<string, number>();
  private readonly childIds = new Map<string, number>();
  private readonly threadIds = new Map<string, number>();
  private fdId(name: string): number {
    if (!this.fdIds.has(name)) this.fdIds.set(name, this.fdIds.size);
    return this.fdIds.get(name)!;
  }

  steps(steps: Step[], ind: string): string {
    return steps.map((s) => `${ind}/* ${s.pos.line}:${s.pos.col} ${s.op} */\n${this.step(s, ind)}`).join('\n');
  }

  step(s: Step, ind: string): string {
    const L = (...lines: string[]) => lines.map((l) => `${ind}${l}`).join('\n');
    const r = 'range' in s && s.range ? s.range : null;
    const addr = r ? `buf(${cstr(r.buf)})->addr + ${r.first}UL * PAGE` : 'NULL';
    const len = r ? `${r.count}UL * PAGE` : '0';
    switch (s.kind) {
      case 'mmap': {
        const size = `${s.pages}UL * PAGE`, share = s.shared ? 'MAP_SHARED' : 'MAP_PRIVATE';
        const prot = `${s.prot}`;
        const lines = [`{`, `\tchar *p = MAP_FAILED;`];
        if (s.type === 'anon') lines.push(`\tp = mmap(NULL, ${size}, ${prot}, ${share} | MAP_ANONYMOUS, -1, 0);`);
        if (s.type === 'hugetlb') lines.push(`\tp = mmap(NULL, ${size}, ${prot}, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);`);
        if (s.type === 'dmirror') lines.push(`\tp = mmap(NULL, ${size}, ${prot}, ${share}, fds[${this.fdId(s.device!)}], 0);`);
        if (s.type === 'file') {
          lines.push(`\tint f = open("/tmp", O_TMPFILE | O_EXCL | O_RDWR, 0600);`,
            `\tif (f >= 0 && ftruncate(f, ${size}) == 0) p = mmap(NULL, ${size}, ${prot}, ${share}, f, 0);`,
            `\tif (f >= 0) { int e = errno; close(f); errno = e; }`);
        }
        if (s.type === 'thp') {
          lines.push(`\tchar *raw = mmap(NULL, ${size} + (1UL << 21), ${prot}, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);`,
            `\tif (raw != MAP_FAILED) {`,
            `\t\tp = (char *)(((uintptr_t)raw + (1UL << 21) - 1) & ~((1UL << 21) - 1));`,
            `\t\tif (p > raw) munmap(raw, p - raw);`,
            `\t\tif (raw + (1UL << 21) > p) munmap(p + ${size}, raw + (1UL << 21) - p);`,
            `\t\tif (madvise(p, ${size}, MADV_HUGEPAGE)) { int e = errno; munmap(p, ${size}); p = MAP_FAILED; errno = e; }`,
            `\t}`);
        }
        lines.push(`\tbufs[nbufs].name = ${cstr(s.name)}; bufs[nbufs].addr = p == MAP_FAILED ? NULL : p; bufs[nbufs++].pages = ${s.pages};`,
          `\tprintf("%sMMAP %s pages=%d type=%s%s ret=%s\\n", label, ${cstr(s.name)}, ${s.pages}, ${cstr(s.type)}, ${cstr(s.shared ? ' shared' : '')}, errname(p == MAP_FAILED ? -errno : 0));`,
          `}`);
        return L(...lines);
      }
      case 'munmap': return L(`ret = munmap(${addr}, ${len});`, `sys_line("MUNMAP", ${cstr(r!.buf)}, ${r!.first}, ${r!.count}, "", ret);`);
      case 'mremap': {
        const to = s.to ? `buf(${cstr(s.to.buf)})->addr + ${s.to.first}UL * PAGE` : 'NULL';
        return L(`{`,
          `\tvoid *q = mremap(${addr}, ${r!.count}UL * PAGE, ${s.pages}UL * PAGE, ${s.flags} /* ${s.flagNames} */, ${to});`,
          `\tint e = q == MAP_FAILED ? -errno : 0;`,
          `\tstruct buffer *nb = NULL;`,
          `\tfor (int i = 0; i < nbufs; i++) if (!strcmp(bufs[i].name, ${cstr(s.name)})) nb = &bufs[i];`,
          `\tif (!nb) { nb = &bufs[nbufs++]; nb->name = ${cstr(s.name)}; }`,
          `\tnb->addr = q == MAP_FAILED ? NULL : q; nb->pages = ${s.pages};`,
          `\tprintf("%sMREMAP %s pages=${pagesC(r!)} %s%s as %s ret=%s\\n", label, ${cstr(r!.buf)}, ${cstr(s.flagNames)}, ${cstr(s.to ? ` to ${s.to.buf} pages=${pagesC(s.to)}` : '')}, ${cstr(s.name)}, errname(e));`,
          `}`);
      }
      case 'mprotect': return L(`ret = mprotect(${addr}, ${len}, ${s.prot});`, `sys_line("MPROTECT", ${cstr(r!.buf)}, ${r!.first}, ${r!.count}, "", ret);`);
      case 'madvise': return L(`ret = madvise(${addr}, ${len}, ${s.advice} /* ${s.adviceName} */);`,
        `sys_line("MADVISE", ${cstr(r!.buf)}, ${r!.first}, ${r!.count}, ${cstr(` ${s.adviceName}`)}, ret);`);
      case 'store': return L(`store(${cstr(r!.buf)}, ${r!.first}, ${r!.count}, ${patParts(s.pattern)});`);
      case 'load': return L(`load(${cstr(r!.buf)}, ${r!.first}, ${r!.count}, ${expectArgs(s.expect?.data)});`);
      case 'open': return L(`fds[${this.fdId(s.name)}] = open("/dev/hmm_dmirror${s.device}", O_RDWR);`,
        `printf("%sOPEN %s /dev/hmm_dmirror${s.device} ret=%s\\n", label, ${cstr(s.name)}, errname(fds[${this.fdId(s.name)}] < 0 ? -errno : 0));`);
      case 'close': return L(`ret = close(fds[${this.fdId(s.name)}]);`, `printf("%sCLOSE %s ret=%s\\n", label, ${cstr(s.name)}, errname(ret < 0 ? -errno : 0));`);
      case 'cmd': return this.command(s, L, addr);
      case 'fork': {
        const id = this.childIds.size;
        this.childIds.set(s.name, id);
        const child = this.steps(s.steps, `${ind}\t\t`);
        // The child waits on a pipe until its parent has said FORK (and, with wait: later, until it waits), as the model runs it.
        const lines = [
          `if (pipe(gates[${id}])) { perror("pipe"); exit(1); }`,
          `pids[${id}] = fork();`,
          `if (pids[${id}] == 0) {`,
          `\t{ char c; close(gates[${id}][1]); if (read(gates[${id}][0], &c, 1) != 1) _exit(0); }`,
          `\tlabel = ${cstr(`${s.name}: `)};`, `\tprintf("# pid %d %s\\n", (int)getpid(), ${cstr(s.name)});`];
        const tail = [`\tprintf("%sEND\\n", label);`, `\texit(0);`, `}`];
        const fork = [`if (pids[${id}] < 0) printf("%sFORK %s ret=%s\\n", label, ${cstr(s.name)}, errname(-errno));`,
          `else printf("%sFORK %s\\n", label, ${cstr(s.name)});`];
        const wait = s.wait
          ? [`close(gates[${id}][0]);`, `if (write(gates[${id}][1], "g", 1) < 0) {}`, `close(gates[${id}][1]);`,
            `waitpid(pids[${id}], &status, 0);`, `exit_line(${cstr(s.name)}, status);`]
          : [`close(gates[${id}][0]);`];
        return [L(...lines), child, L(...(s.steps.at(-1)?.kind === 'exit' ? [`}`] : tail), ...fork, ...wait)].join('\n');
      }
      case 'wait': {
        const id = this.childIds.get(s.child)!;
        return L(`if (write(gates[${id}][1], "g", 1) < 0) {}`, `close(gates[${id}][1]);`, `waitpid(pids[${id}], &status, 0);`, `exit_line(${cstr(s.child)}, status);`);
      }
      case 'kill': return L(`ret = kill(pids[${this.childIds.get(s.child)!}], ${s.signal});`,
        `printf("%sKILL %s %s ret=%s\\n", label, ${cstr(s.child)}, signame(${s.signal}), errname(ret < 0 ? -errno : 0));`);
      case 'exit': return L(`printf("%sEXIT ${s.code}\\n", label);`, `exit(${s.code});`);
      case 'thread': {
        const id = this.nthreads++;
        this.threadIds.set(s.name, id);
        this.fns.push([`static void *thread_${id}(void *arg)`, '{', '\tint ret; uint64_t cpages, faults; uint32_t type; int *fds = arg;',
          '\t(void)ret; (void)cpages; (void)faults; (void)type; (void)fds;', `\tlabel = ${cstr(`${s.name}: `)};`,
          `\tprintf("# pid %d %s\\n", (int)gettid(), ${cstr(s.name)});`,
          this.steps(s.steps, '\t'), '\treturn NULL;', '}', ''].join('\n'));
        return L(`pthread_create(&threads[${id}], NULL, thread_${id}, fds);`, `printf("%sTHREAD %s\\n", label, ${cstr(s.name)});`);
      }
      case 'join': return L(`pthread_join(threads[${this.threadIds.get(s.thread)!}], NULL);`, `printf("%sJOIN %s\\n", label, ${cstr(s.thread)});`);
      case 'sleep':
        return s.random
          ? L(`sleep_ns(hmm_random() % ${s.ns}UL);`, `printf("%sSLEEP upto=${s.ns}\\n", label);`)
          : L(`sleep_ns(${s.ns}UL);`, `printf("%sSLEEP ns=${s.ns}\\n", label);`);
    }
  }

  command(s: Step & { kind: 'cmd' }, L: (...l: string[]) => string, addr: string): string {
    const info = REQUESTS.get(s.op)!;
    const r = s.range, npages = r?.count ?? 0;
    const v5 = s.op.startsWith('V5_');
    const nr = `${v5 ? 'REQ_V5' : 'REQ'}(0x${(s.request & 0xff).toString(16).padStart(2, '0')})`;
    const name = s.op === 'V5_MIGRATE' ? (s.allocToDevmem ? 'MIGRATE_TO_DEV' : 'MIGRATE_TO_SYS') : s.op.replace(/^V5_/, '');
    const size = info.mirror === 'pages' ? `${npages}UL * PAGE` : info.mirror === 'bytes' ? `${npages}UL` : '0';
    const lines = ['{', `\tchar *mirror = ${size === '0' ? 'NULL' : `malloc(${size})`};`];
    if (s.data && r) {
      lines.push(`\tfor (unsigned long i = 0; i < ${npages}UL * PAGE / 4; i++) ((int32_t *)mirror)[i] = pat(${patParts(s.data).split(', ').slice(0, 2).join(', ')}, ${r.first}UL * PAGE / 4 + i);`);
    }
    lines.push(`\tret = dmirror_cmd(fds[${this.fdId(s.dev)}], ${nr}, ${v5 ? 1 : 0}, ${cstr(name)}, ${addr}, ${npages}, mirror, ${s.allocToDevmem ?? 0}, &cpages, &faults, &type);`);
    if (s.op === 'V5_GET_MEM_DEV_TYPE') lines.push(`\tprintf("%sDATA GET_MEM_DEV_TYPE %s zone_device_type=%u\\n", label, ${cstr(s.dev)}, type);`);
    if (r && info.mirror === 'bytes') lines.push(`\tif (ret == 0) snapshot_line(${cstr(r.buf)}, ${r.first}, ${r.count}, (unsigned char *)mirror);`);
    if (r && info.mirror === 'pages' && s.op.endsWith('READ')) {
      lines.push(`\tif (ret == 0) data_line(${cstr(s.op)}, ${cstr(r.buf)}, ${r.first}, ${r.count}, (int32_t *)mirror, ${expectArgs(s.expect?.data)});`);
    }
    lines.push('\t/* The mirror stays allocated, as in the interpreter: unmapping it would invalidate the mirror next to it. */', '}');
    return L(...lines);
  }
}

/** The C program of a checked scenario. */
export function emitC(sc: Scenario): string {
  return new Emitter(sc).program();
}
