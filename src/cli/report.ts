// SPDX-License-Identifier: GPL-2.0-only
/*
 * --report FILE: the run as YAML, for CI to keep and compare, with all it
 * takes to run it again: the tool's version, the kernel profile, the mode
 * and memory types, the seed, the filters, the configuration (module
 * parameters, simulated machine, --config file) and the command line; then
 * every case with its status, duration, failure kinds and messages, and
 * the totals. A run cut short (SIGINT, SIGTERM, a closed stdout) says so
 * in `incomplete`.
 */
import { yaml } from './yaml.js';
import type { RunResult } from '../kselftest/harness.js';
import { hex } from '../kernel-model/machine.js';
import type { ScenarioResult } from '../scenario/run.js';
import { type RunInfo, shellWord } from './run-info.js';

/** The run's identity as flat name/value pairs (JUnit <property> elements). */
export function runProperties(info: RunInfo, incomplete: string | null): Record<string, string> {
  return {
    'hmm-test.version': info.version,
    'kernel.profile': info.kernel,
    mode: info.mode,
    'memory.type': info.memoryType,
    seed: String(info.seed),
    filters: info.filters.join(' '),
    config: info.configFile ?? '',
    'module.spm_addr_dev0': hex(info.params.spm_addr_dev0),
    'module.spm_addr_dev1': hex(info.params.spm_addr_dev1),
    'module.spm_type': info.params.spm_type ?? 'generic',
    'machine.physBits': String(info.machine.physBits),
    'machine.transparent_hugepage': info.machine.transparentHugepage ?? 'madvise',
    'machine.hugepages': String(info.machine.nrHugepages ?? 16),
    'command.line': ['hmm-test', ...info.argv].map(shellWord).join(' '),
    timeout: String(info.timeoutS),
    started: info.started,
    ...(incomplete ? { incomplete } : {}),
  };
}

export function smokeReport(info: RunInfo, result: RunResult, incomplete: string | null = null): string {
  const { params, machine } = info;
  return yaml().stringify({
    run: {
      tool: info.tool,
      version: info.version,
      kernel: info.kernel,
      commandLine: ['hmm-test', ...info.argv].map(shellWord).join(' '),
      argv: info.argv,
      seed: info.seed,
      filters: info.filters,
      timeoutS: info.timeoutS,
      bail: info.bail,
      started: info.started,
      complete: incomplete === null && !result.bailedOut,
      ...(incomplete ? { incomplete } : result.bailedOut ? { incomplete: 'stopped at the first failure (--bail)' } : {}),
    },
    configuration: {
      ...(info.patches.length ? { patches: [...info.patches] } : {}),
      module: 'test_hmm',
      parameters: { spm_addr_dev0: hex(params.spm_addr_dev0), spm_addr_dev1: hex(params.spm_addr_dev1), spm_type: params.spm_type ?? 'generic' },
      mode: info.mode,
      memoryType: info.memoryType,
      configFile: info.configFile,
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
      ...(r.failures.length ? { failures: r.failures.map((f) => ({ kind: f.kind, message: f.message })) } : {}),
      ...(r.messages.length ? { messages: r.messages } : {}),
    })),
    totals: { planned: result.planned, run: result.results.length, pass: result.pass, fail: result.fail, skip: result.skip, exitCode: result.exitCode },
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
