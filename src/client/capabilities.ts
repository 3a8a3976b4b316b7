/** What a client can display beyond JPEG, PNG and GIF (SPEC §2). */
export interface Capabilities {
  readonly webp: boolean;
  readonly avif: boolean;
  /** SVG with a mask in `<img>` and CSS backgrounds (ZorroSVG, SPEC §6). */
  readonly zorro: boolean;
}

export type Capability = keyof Capabilities;

/** The order capabilities take in a mark (SPEC §2: `m=ic,webp,avif,zorro`). */
export const CAPABILITY_ORDER: readonly Capability[] = ['webp', 'avif', 'zorro'];

export const NO_CAPABILITIES: Capabilities = Object.freeze({ webp: false, avif: false, zorro: false });
