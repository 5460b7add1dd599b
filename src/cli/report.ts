// SPDX-License-Identifier: GPL-2.0-only
/*
 * --report FILE: the run as YAML, for CI to keep and compare: the
 * configuration (module parameters, memory type, simulated machine), every
 * case with its status, duration and messages (the failed assertion, a leak,
 * an oops), and the totals.
 */
import { yaml } from './yaml.js';
import type { RunResult } from '../kselftest/harness.js';
import { type TestHmmParams, memoryMode } from '../dmirror/test_hmm.js';
import type { MachineConfig } from '../kernel-model/machine.js';
import { hex } from '../kernel-model/machine.js';
import type { ScenarioResult } from '../scenario/run.js';

export function smokeReport(params: TestHmmParams, machine: MachineConfig, result: RunResult, kernel = '6.12', patches: readonly string[] = []): string {
  const mode = memoryMode(params);
  const memoryType = { private: ['DEVICE_PRIVATE'], generic: ['DEVICE_GENERIC'], coherent: ['DEVICE_PRIVATE', 'DEVICE_COHERENT'] }[mode];
  return yaml().stringify({
    configuration: {
      kernel,
      ...(patches.length ? { patches: [...patches] } : {}),
      module: 'test_hmm',
      parameters: { spm_addr_dev0: hex(params.spm_addr_dev0), spm_addr_dev1: hex(params.spm_addr_dev1), spm_type: params.spm_type ?? 'generic' },
      mode,
      memoryType: memoryType.join(' + '),
      machine: {
        physBits: machine.physBits,
        transparentHugepage: machine.transparentHugepage ?? 'madvise',
        hugepages: machine.nrHugepages ?? 16,
        memoryMap: machine.memoryMap.map((e) => ({ start: hex(e.start), size: hex(e.size), type: e.type })),
      },
    },
    cases: result.results.map((r) => ({
      name: r.name,
      status: r.status,
      durationMs: +r.durationMs.toFixed(3),
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.messages.length ? { messages: r.messages } : {}),
    })),
    totals: { pass: result.pass, fail: result.fail, skip: result.skip, exitCode: result.exitCode },
  });
}

/** --report for `hmm-test run`: every scenario with its configuration and each check, then the totals. */
export function scenarioReport(result: RunResult, scenarios: ScenarioResult[]): string {
  return yaml().stringify({
    scenarios: scenarios.map((s, i) => ({
      file: s.file,
      name: s.name,
      kernel: s.kernel,
      ...(s.patches.length ? { patches: s.patches } : {}),
      status: result.results[i].status,
      durationMs: +s.durationMs.toFixed(3),
      checks: s.checks.map((c) => ({ name: c.name, status: c.skip ? 'skip' : c.ok ? 'pass' : 'fail', ...(c.detail ? { detail: c.detail } : {}) })),
    })),
    totals: { pass: result.pass, fail: result.fail, exitCode: result.exitCode },
  });
}
