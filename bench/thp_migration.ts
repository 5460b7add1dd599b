// SPDX-License-Identifier: GPL-2.0-only
/*
 * benchmark_thp_migration of the newest hmm-tests.c, run as the 7.2 suite
 * runs it (private devices), its printed table read back: per size, the
 * system->device and device->system throughput with THP and with 4 KiB
 * pages, and the THP/4K ratio next to the upstream series' figure (Balbir
 * Singh, "mm: support device-private THP" v6 cover letter, 2025-09-16: a
 * 350 % throughput gain, lib/test_hmm in an x86 VM). Until the model has
 * that series a THP migrates as 512 small pages, so the ratio stays near 1.
 */
import { runSmoke } from '../src/runner.js';
import { composeKernel, MAINLINE, type KernelVersion } from '../src/kernel-model/changes.js';

export const UPSTREAM_THP_GAIN_PERCENT = 350;

export interface ThpMigrationRow {
  name: string;
  MB: number;
  s2dThpGBps: number;
  s2d4kGBps: number;
  d2sThpGBps: number;
  d2s4kGBps: number;
  /** THP throughput over 4K throughput, both directions' mean. */
  ratio: number;
}

export function thpMigrationTable(): ThpMigrationRow[] {
  const out: string[] = [];
  const res = runSmoke({
    params: { spm_addr_dev0: 0, spm_addr_dev1: 0 }, kernel: composeKernel(MAINLINE) as KernelVersion,
    filter: (_f, v, c) => v === 'hmm_device_private' && c === 'benchmark_thp_migration', out: (l) => out.push(l), err: () => {},
  });
  if (res.exitCode !== 0) throw new Error('benchmark_thp_migration failed');
  const rows: ThpMigrationRow[] = [];
  const gbps = (l: string | undefined): [number, number] => {
    const m = /\|\s*([\d.]+) GB\/s\s*\|\s*([\d.]+) GB\/s/.exec(l ?? '');
    if (!m) throw new Error(`benchmark_thp_migration: no throughput in "${l}"`);
    return [Number(m[1]), Number(m[2])];
  };
  for (let i = 0; i < out.length; i++) {
    const h = /^=== (.*) \(([\d.]+) MB\) ===$/.exec(out[i]);
    if (!h) continue;
    const [s2dThp, s2d4k] = gbps(out.slice(i).find((l) => l.startsWith('S->D Throughput')));
    const [d2sThp, d2s4k] = gbps(out.slice(i).find((l) => l.startsWith('D->S Throughput')));
    rows.push({ name: h[1], MB: Number(h[2]), s2dThpGBps: s2dThp, s2d4kGBps: s2d4k, d2sThpGBps: d2sThp, d2s4kGBps: d2s4k,
      ratio: +(((s2dThp / s2d4k) + (d2sThp / d2s4k)) / 2).toFixed(2) });
  }
  return rows;
}
