import type { EngineSettings } from '../../images/experiment.js';
import type { ExperimentPool } from '../../images/experiment-pool.js';
import type { ProbeLimits } from '../../images/probe.js';
import type { SharedImages } from '../../cluster/shared-images.js';
import type { Logger } from '../../observability/log.js';
import type { Metrics } from '../../observability/metrics.js';
import type { ExperimentQueue } from '../../optimizer/experiment-queue.js';
import type { OriginFetcher } from '../../proxy/origin-fetch.js';
import type { ImageStore } from '../../store/image-store.js';
import type { FallbackImage } from '../fallback-image.js';
import type { HostMode } from '../image-source.js';
import type { MemoryBudget } from '../memory-budget.js';
import type { FailureCause } from '../request-log.js';

/** What the image routes are built from (see image-route.ts for the steps a request goes through). */
export interface ImageRouteParts {
  readonly store: ImageStore;
  readonly queue: ExperimentQueue;
  readonly pool: ExperimentPool;
  readonly fetcher: OriginFetcher;
  readonly settings: EngineSettings;
  readonly limits: ProbeLimits;
  readonly intervalSeconds: number;
  /** `<origin heuristic-max-age>`: see `freshUntil`. */
  readonly heuristicMaxAgeSeconds: number;
  /** `<image-compression interim-max-age>`: the lifetime of a response before final (0: `no-cache`). */
  readonly interimSeconds: number;
  /** `<origin host>`: with `client`, the client's `Host` goes to the origin and is part of the store key. */
  readonly hostMode: HostMode;
  /** Originals larger than this are passed through, not kept. */
  readonly maxOriginalBytes: number;
  /** `<limits max-buffered>`: image bodies held in memory at once, over all requests. */
  readonly budget: MemoryBudget;
  /** `<image-api max-queue>`: transforms made to order (image API, scaling) that may wait; beyond, the original is sent. */
  readonly maxTransformsWaiting: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** `<fallback-image>`: sent in place of the origin's 404. */
  readonly fallback?: FallbackImage;
  /** `<cluster>`: what the instances share through Redis, and how long an experiment's lease lasts unrenewed. */
  readonly shared?: SharedImages;
  readonly leaseMs?: number;
}

/** How a route answered: itself (bytes sent), or by handing the request back to be forwarded as it is. */
export type ImageAnswer =
  | { readonly kind: 'answered'; readonly bytes: number; readonly error?: string; readonly cause?: FailureCause }
  | { readonly kind: 'forward'; readonly reason: string };

/** The client went away: nothing to send, nothing to forward. */
export const CLIENT_GONE: ImageAnswer = { kind: 'answered', bytes: 0, error: 'client closed the connection', cause: 'client' };
