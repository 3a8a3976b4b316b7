/**
 * Legacy multi-byte charsets whose trail bytes reach into ASCII (0x40–0x7E): there a byte 0x5C may be the second
 * half of a character (Shift_JIS 表 is 95 5C), not a backslash, and 0x7B/0x7D not braces. HTML markup is safe in
 * them (its delimiters are all below 0x40), CSS is not. Labels from the WHATWG Encoding standard.
 */
type MultiByteFamily = 'shift_jis' | 'gbk' | 'big5';

const FAMILIES: Readonly<Record<string, MultiByteFamily>> = {
  shift_jis: 'shift_jis', sjis: 'shift_jis', ms_kanji: 'shift_jis', csshiftjis: 'shift_jis', 'windows-31j': 'shift_jis', 'x-sjis': 'shift_jis', ms932: 'shift_jis',
  gbk: 'gbk', gb2312: 'gbk', gb18030: 'gbk', 'x-gbk': 'gbk', cp936: 'gbk', ms936: 'gbk', 'windows-936': 'gbk', chinese: 'gbk', csgb2312: 'gbk', 'iso-ir-58': 'gbk', csiso58gb231280: 'gbk', 'gb_2312': 'gbk', 'gb_2312-80': 'gbk',
  big5: 'big5', 'big5-hkscs': 'big5', 'cn-big5': 'big5', csbig5: 'big5', 'x-x-big5': 'big5',
};

export function multiByteFamily(charset: string | undefined): MultiByteFamily | undefined {
  return charset === undefined ? undefined : FAMILIES[charset.trim().toLowerCase()];
}

/** Bytes a character of `family` takes at `i` of a binary string (1 for ASCII and single-byte characters). */
function characterLength(text: string, i: number, family: MultiByteFamily): number {
  const lead = text.charCodeAt(i);
  if (lead < 0x80) return 1;
  const trail = i + 1 < text.length ? text.charCodeAt(i + 1) : -1;
  switch (family) {
    case 'shift_jis':
      if (!((lead >= 0x81 && lead <= 0x9f) || (lead >= 0xe0 && lead <= 0xfc))) return 1;
      return (trail >= 0x40 && trail <= 0x7e) || (trail >= 0x80 && trail <= 0xfc) ? 2 : 1;
    case 'gbk':
      if (lead < 0x81 || lead > 0xfe) return 1;
      if (trail >= 0x30 && trail <= 0x39) return i + 3 < text.length ? 4 : 1;
      return (trail >= 0x40 && trail <= 0x7e) || (trail >= 0x80 && trail <= 0xfe) ? 2 : 1;
    case 'big5':
      if (lead < 0x81 || lead > 0xfe) return 1;
      return (trail >= 0x40 && trail <= 0x7e) || (trail >= 0xa1 && trail <= 0xfe) ? 2 : 1;
  }
}

/** Stands for a byte of a multi-byte character: not ASCII, so no CSS tokenizer takes it for punctuation. */
const PLACEHOLDER = '\u00ff';

/**
 * The binary string with every byte of every multi-byte character replaced by a placeholder, length kept: offsets
 * found in it are offsets in `text`. A single-byte charset (or none) returns `text` itself.
 */
export function withoutTrailBytes(text: string, charset: string | undefined): string {
  const family = multiByteFamily(charset);
  if (!family || !/[\u0080-\u00ff]/.test(text)) return text;
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; ) {
    const length = characterLength(text, i, family);
    if (length > 1) {
      out += text.slice(from, i) + PLACEHOLDER.repeat(length);
      from = i + length;
    }
    i += length;
  }
  return out + text.slice(from);
}
