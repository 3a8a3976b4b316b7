export type { Config, ImageCompressionConfig, ListenConfig, LogLevel, ModernFormat, OriginConfig } from './config.js';
export { readTlsIdentity, type TlsIdentity } from './tls-identity.js';
export { QUALITY_METHODS, type QualityFormat, type QualityMethod, qualityTarget } from './attribute-types.js';
export type { OriginTarget } from './attribute-types.js';
export { ConfigError, DEFAULT_CONFIG_PATH, defaultImageCompression, loadConfigFile, parseConfig } from './load.js';
export { COMPRESSION_PRESETS, type PresetName } from './presets.js';
