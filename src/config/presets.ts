/** SPEC §1: the compression presets. `d` is the DSSIM target, `quality` the fixed encoder quality. */
export const COMPRESSION_PRESETS = {
  performance: { d: 0.004, quality: 70 },
  balanced: { d: 0.002, quality: 80 },
  quality: { d: 0.001, quality: 90 },
} as const satisfies Record<string, { d: number; quality: number }>;

export type PresetName = keyof typeof COMPRESSION_PRESETS;
export const PRESET_NAMES = Object.keys(COMPRESSION_PRESETS) as PresetName[];
export const DEFAULT_PRESET: PresetName = 'balanced';
