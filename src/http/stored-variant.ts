import { MIME_TYPES, type Variant } from '../images/experiment.js';
import { sha256 } from '../store/image-store.js';
import type { OriginalRecord, VariantRecord } from '../store/records.js';

/**
 * What the store keeps of a variant: its facts, and the bytes as they are sent (compressed, for ZorroSVG); an
 * experiment's outcome names the engine settings it was made under.
 */
export function storedVariant(original: OriginalRecord, variant: Variant, settings?: string): { readonly record: VariantRecord; readonly bytes: Buffer } {
  const bytes = variant.transfer?.bytes ?? variant.bytes;
  const record: VariantRecord = {
    originalDigest: original.digest,
    ...(settings === undefined ? {} : { settings }),
    digest: sha256(bytes),
    size: bytes.length,
    experiment: variant.experiment,
    format: variant.format,
    contentType: MIME_TYPES[variant.format],
    ...(variant.quality === undefined ? {} : { quality: variant.quality }),
    dssim: variant.dssim,
    ...(variant.transfer ? { contentEncoding: variant.transfer.encoding } : {}),
    ...(variant.shortfall ? { shortfall: variant.shortfall } : {}),
    ...(variant.operations ? { operations: variant.operations } : {}),
    createdAt: Date.now(),
  };
  return { record, bytes };
}
