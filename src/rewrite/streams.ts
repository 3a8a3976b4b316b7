import { Transform, type TransformCallback } from 'node:stream';
import { byteOrderMark, partialByteOrderMark } from './charset-prescan.js';
import { rewriteStylesheet } from './css-rewriter.js';
import { HtmlRewriter, type HtmlRewriteOptions } from './html-rewriter.js';
import type { MarkingContext } from './url-marker.js';

const binary = (text: string) => Buffer.from(text, 'latin1');

/**
 * How much input the HTML rewriter may hold back before it gives up on the page: it waits for the end of a tag
 * (and of a `<style>` element, up to 1 MiB) before it writes it out, and markup that never ends that tag (an
 * unclosed quote, comment or style) would otherwise be held up to `maxBytes`, at several times its size in
 * memory (measured: ≈ 12 bytes per held byte in the tokenizer's strings).
 */
export const MAX_HELD_BACK_BYTES = 2 * 2 ** 20;

/**
 * A stylesheet is parsed whole, synchronously (postcss): about 1 MB/s here with the bytes as the browser reads
 * them, so a larger one would hold every other connection up for seconds. It passes as it is, like a `<style>`
 * element above the same size.
 */
export const MAX_REWRITTEN_STYLESHEET = 2 ** 20;

/**
 * A decompression bomb is cut short: past this many decoded bytes for each compressed byte received (and past
 * `RATIO_FLOOR` decoded bytes), the rest of a page passes unrewritten. Real pages compress 3–20×; a 30 KB gzip
 * body that inflates to 30 MB (1000×) would otherwise cost seconds of rewriting for a few kilobytes sent.
 */
export const MAX_DECOMPRESSION_RATIO = 100;
const RATIO_FLOOR = 2 ** 20;

/**
 * An HTML document through the rewriter, as it streams. Past `maxBytes` (counted on the bytes this stream is
 * given: decoded ones, the decoder comes first) the rest passes as it is (SPEC: large pages stream through), and
 * so does a UTF-16 page, the rest of a page whose rewriter holds back more than `maxHeldBytes`, and the rest of a
 * compressed page past `MAX_DECOMPRESSION_RATIO` times the compressed bytes so far (`compressedBytes`).
 *
 * The first bytes are held until they tell whether the page starts with a byte-order mark (at most 3, whatever
 * the chunks the origin's bytes come in): as in a browser (HTML standard §13.2.3.2), a mark decides the encoding
 * over the Content-Type's charset and the page's `<meta>`. A UTF-16 page is not ASCII-compatible, its markup
 * cannot be read byte-wise: it passes as it is. A UTF-8 mark goes out as it came, and the rewriter reads the page
 * after it, as a browser's tokenizer does (its decoder takes the mark away).
 */
export function htmlRewriteStream(options: HtmlRewriteOptions, maxBytes: number, maxHeldBytes = MAX_HELD_BACK_BYTES, compressedBytes?: () => number): Transform {
  /** The first bytes, while they may still be the start of a byte-order mark. */
  let head: Buffer | undefined = Buffer.alloc(0);
  /** Until the rest of the page passes as it is. */
  let rewriter: HtmlRewriter | undefined;
  let seen = 0;
  /** Bytes the rewriter has given back (marks make it a little more than it was given: held back is at most less). */
  let written = 0;
  /** Starts reading the page by its first bytes (a byte-order mark, or none); returns what the rewriter has yet to read. */
  const begin = (stream: Transform, first: Buffer): Buffer => {
    const mark = byteOrderMark(first.toString('latin1', 0, 3));
    if (mark === 'utf-16be' || mark === 'utf-16le') return first;
    if (mark === undefined) {
      rewriter = new HtmlRewriter(options);
      return first;
    }
    rewriter = new HtmlRewriter({ ...options, charset: mark });
    stream.push(first.subarray(0, 3));
    written += 3;
    return first.subarray(3);
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (head) {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        if (partialByteOrderMark(head.toString('latin1', 0, 3))) {
          callback();
          return;
        }
        chunk = begin(this, head);
        head = undefined;
      }
      const bomb = compressedBytes !== undefined && seen > RATIO_FLOOR && seen > MAX_DECOMPRESSION_RATIO * compressedBytes();
      if (rewriter && (seen > maxBytes || bomb)) {
        const rest = rewriter.end();
        rewriter = undefined;
        if (rest !== '') this.push(binary(rest));
      }
      if (!rewriter) {
        callback(null, chunk.length === 0 ? undefined : chunk);
        return;
      }
      let out = rewriter.write(chunk.toString('latin1'));
      written += out.length;
      if (seen - written > maxHeldBytes) {
        out += rewriter.end();
        rewriter = undefined;
      }
      callback(null, out === '' ? undefined : binary(out));
    },
    flush(callback: TransformCallback) {
      // The page ended while its first bytes were still held: it is shorter than 3 bytes.
      let out = '';
      if (head) {
        const rest = begin(this, head);
        head = undefined;
        if (!rewriter) {
          callback(null, rest.length === 0 ? undefined : rest);
          return;
        }
        out = rewriter.write(rest.toString('latin1'));
      }
      if (!rewriter) {
        callback();
        return;
      }
      out += rewriter.end();
      callback(null, out === '' ? undefined : binary(out));
    },
  });
}

/**
 * A stylesheet through the CSS rewriter. CSS is parsed whole, so it is collected first (it is small); past
 * `maxBytes` (decoded bytes, as for HTML) what was collected and the rest pass as they are, so the collection
 * never exceeds `maxBytes` plus one chunk. `charset` is the Content-Type's (else the sheet's own `@charset`).
 */
export function cssRewriteStream(stylesheetUrl: URL, marking: MarkingContext, maxBytes: number, charset?: string): Transform {
  let chunks: Buffer[] | undefined = [];
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!chunks) {
        callback(null, chunk);
        return;
      }
      seen += chunk.length;
      chunks.push(chunk);
      if (seen > maxBytes) {
        const collected = Buffer.concat(chunks);
        chunks = undefined;
        callback(null, collected);
        return;
      }
      callback();
    },
    flush(callback: TransformCallback) {
      if (!chunks) {
        callback();
        return;
      }
      const css = Buffer.concat(chunks).toString('latin1');
      callback(null, binary(rewriteStylesheet(css, stylesheetUrl, marking, charset)));
    },
  });
}
