/** A piece of text to insert into a document at an offset (rewriting only ever inserts marks, or removes). */
export interface Edit {
  readonly start: number;
  /** `start` for an insertion; greater for a removal or replacement. */
  readonly end: number;
  readonly text: string;
}

/** Applies edits (sorted by `start`, not overlapping) to `source`. */
export function applyEdits(source: string, edits: readonly Edit[], offset = 0): string {
  if (edits.length === 0) return source;
  let out = '';
  let at = 0;
  for (const edit of edits) {
    out += source.slice(at, edit.start - offset) + edit.text;
    at = edit.end - offset;
  }
  return out + source.slice(at);
}

/** A URL as it stands in some text: where, and its text there. */
export interface UrlSpan {
  readonly start: number;
  readonly end: number;
}
