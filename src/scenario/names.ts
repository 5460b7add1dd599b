// SPDX-License-Identifier: GPL-2.0-only
/*
 * The C names a scenario writes, resolved from the modules that define
 * them, so a constant added there (a new MADV_*, errno or request) is
 * usable in a scenario without a change here.
 */
import * as errno from '../kernel-model/errno.js';
import * as madvise from '../kernel-model/madvise.js';
import * as uapi from '../dmirror/test_hmm_uapi.js';
import { SIGBUS, SIGSEGV } from '../kernel-model/bug.js';
import { SIGINT, SIGKILL, SIGTERM } from '../kernel-model/task.js';

const numbers = (mod: object, re: RegExp): Map<string, number> =>
  new Map(Object.entries(mod).filter(([k, v]) => re.test(k) && typeof v === 'number') as Array<[string, number]>);

/** EPERM, ENOENT, ... as errno.ts has them. */
export const ERRNOS = numbers(errno, /^E[A-Z0-9]+$/);
/** MADV_HUGEPAGE, ... : every advice madvise.ts knows by its C name (the model answers -EINVAL for what it does not model). */
export const MADVICE = numbers(madvise, /^MADV_[A-Z_]+$/);

export const SIGNALS = new Map<string, number>([['SIGINT', SIGINT], ['SIGBUS', SIGBUS], ['SIGKILL', SIGKILL],
  ['SIGSEGV', SIGSEGV], ['SIGTERM', SIGTERM]]);
export const signame = (sig: number): string => [...SIGNALS].find(([, v]) => v === sig)?.[0] ?? `signal ${sig}`;

/** 0, or -ENAME for a name errno.ts knows; else the number. */
export function errnoName(ret: number): string {
  if (ret >= 0) return String(ret);
  const n = [...ERRNOS].find(([, v]) => v === -ret)?.[0];
  return n ? `-${n}` : String(ret);
}

/** What a device command needs: a page range of a buffer, and what its mirror buffer holds (pages of data, a byte a page, nothing). */
export type MirrorKind = 'pages' | 'bytes' | 'none';
export interface RequestInfo { request: number; mirror: MirrorKind; needsRange: boolean }

/** Every request of both UAPIs by the name a scenario uses: 6.12's plain, the seed's with V5_. */
export const REQUESTS = new Map<string, RequestInfo>([
  ['READ', { request: uapi.HMM_DMIRROR_READ, mirror: 'pages', needsRange: true }],
  ['WRITE', { request: uapi.HMM_DMIRROR_WRITE, mirror: 'pages', needsRange: true }],
  ['MIGRATE_TO_DEV', { request: uapi.HMM_DMIRROR_MIGRATE_TO_DEV, mirror: 'pages', needsRange: true }],
  ['MIGRATE_TO_SYS', { request: uapi.HMM_DMIRROR_MIGRATE_TO_SYS, mirror: 'pages', needsRange: true }],
  ['SNAPSHOT', { request: uapi.HMM_DMIRROR_SNAPSHOT, mirror: 'bytes', needsRange: true }],
  ['EXCLUSIVE', { request: uapi.HMM_DMIRROR_EXCLUSIVE, mirror: 'pages', needsRange: true }],
  ['CHECK_EXCLUSIVE', { request: uapi.HMM_DMIRROR_CHECK_EXCLUSIVE, mirror: 'pages', needsRange: true }],
  ['RELEASE', { request: uapi.HMM_DMIRROR_RELEASE, mirror: 'none', needsRange: false }],
  ['V5_READ', { request: uapi.HMM_DMIRROR_V5_READ, mirror: 'pages', needsRange: true }],
  ['V5_WRITE', { request: uapi.HMM_DMIRROR_V5_WRITE, mirror: 'pages', needsRange: true }],
  ['V5_MIGRATE', { request: uapi.HMM_DMIRROR_V5_MIGRATE, mirror: 'pages', needsRange: true }],
  ['V5_SNAPSHOT', { request: uapi.HMM_DMIRROR_V5_SNAPSHOT, mirror: 'bytes', needsRange: true }],
  ['V5_GET_MEM_DEV_TYPE', { request: uapi.HMM_DMIRROR_V5_GET_MEM_DEV_TYPE, mirror: 'none', needsRange: false }],
]);

/** The flag bits and the page-kind values of a SNAPSHOT byte (HMM_DMIRROR_PROT_*). */
const PROT_FLAGS: Array<[string, number]> = [['READ', uapi.HMM_DMIRROR_PROT_READ], ['WRITE', uapi.HMM_DMIRROR_PROT_WRITE],
  ['PMD', uapi.HMM_DMIRROR_PROT_PMD], ['PUD', uapi.HMM_DMIRROR_PROT_PUD]];
const PROT_KINDS: Array<[string, number]> = [['ZERO', uapi.HMM_DMIRROR_PROT_ZERO],
  ['DEV_PRIVATE_LOCAL', uapi.HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL], ['DEV_PRIVATE_REMOTE', uapi.HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE],
  ['DEV_COHERENT_LOCAL', uapi.HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL], ['DEV_COHERENT_REMOTE', uapi.HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE],
  ['DEV_GENERIC', uapi.HMM_DMIRROR_PROT_DEV_GENERIC]];
export const PROT_NAMES = ['NONE', 'ERROR', ...PROT_FLAGS.map((f) => f[0]), ...PROT_KINDS.map((f) => f[0])];

/** "ZERO|READ" (HMM_DMIRROR_PROT_ prefixes allowed) as its byte, or null for a name that is not one. */
export function protByte(text: string): number | null {
  let v = 0;
  for (const raw of text.split('|')) {
    const n = raw.trim().replace(/^HMM_DMIRROR_PROT_/, '');
    if (n === 'NONE') continue;
    if (n === 'ERROR') { v |= uapi.HMM_DMIRROR_PROT_ERROR; continue; }
    const f = PROT_FLAGS.find((p) => p[0] === n) ?? PROT_KINDS.find((p) => p[0] === n);
    if (f === undefined) return null;
    v |= f[1];
  }
  return v;
}

/** A SNAPSHOT byte by its names; 0x40 is DEV_GENERIC in the seed's build, DEV_COHERENT_LOCAL in 6.12's. */
export function protName(v: number, generic: boolean): string {
  if (v === uapi.HMM_DMIRROR_PROT_ERROR) return 'ERROR';
  if (v === 0) return 'NONE';
  const parts: string[] = [];
  const kind = v & 0xf0;
  if (kind) {
    const names = PROT_KINDS.filter((p) => p[1] === kind).map((p) => p[0]);
    parts.push(names.find((n) => (n === 'DEV_GENERIC') === generic) ?? names[0] ?? `0x${kind.toString(16)}`);
  }
  for (const [n, f] of PROT_FLAGS) if (v & f) parts.push(n);
  return parts.join('|');
}
