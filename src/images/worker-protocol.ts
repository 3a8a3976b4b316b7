import type { EngineSettings, ExperimentName, ExperimentOutcome, KnownSizes } from './experiment.js';
import type { ProbeLimits } from './probe.js';

export interface ExperimentTask {
  readonly id: number;
  readonly experiment: ExperimentName;
  readonly bytes: Uint8Array;
  readonly settings: EngineSettings;
  readonly limits: ProbeLimits;
  readonly known?: KnownSizes;
}

export interface WorkerReply {
  readonly id: number;
  readonly outcome: ExperimentOutcome;
  /** CPU the experiment took, every thread of its process counted (libvips encodes on several). */
  readonly cpuSeconds: number;
  /** The process's resident memory after it (bytes): a process grown past its bound is replaced. */
  readonly rssBytes?: number;
}
