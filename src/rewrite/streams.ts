import { Transform, type TransformCallback } from 'node:stream';
import { rewriteStylesheet } from './css-rewriter.js';
import { HtmlRewriter, type HtmlRewriteOptions } from './html-rewriter.js';
import type { MarkingContext } from './url-marker.js';

/** UTF-16 byte-order marks: a page in UTF-16 is not ASCII-compatible, its markup cannot be read byte-wise. */
function startsWithUtf16Bom(chunk: Buffer): boolean {
  return chunk.length >= 2 && ((chunk[0] === 0xfe && chunk[1] === 0xff) || (chunk[0] === 0xff && chunk[1] === 0xfe));
}

const binary = (text: string) => Buffer.from(text, 'latin1');

/**
 * An HTML document through the rewriter, as it streams. Past `maxBytes` the rest passes as it is (SPEC: large
 * pages stream through), and so does a UTF-16 page.
 */
export function htmlRewriteStream(options: HtmlRewriteOptions, maxBytes: number): Transform {
  const rewriter = new HtmlRewriter(options);
  let seen = 0;
  let rewriting = true;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (seen === 0 && startsWithUtf16Bom(chunk)) rewriting = false;
      seen += chunk.length;
      if (rewriting && seen > maxBytes) {
        rewriting = false;
        const rest = rewriter.end();
        if (rest !== '') this.push(binary(rest));
      }
      if (!rewriting) {
        callback(null, chunk);
        return;
      }
      const out = rewriter.write(chunk.toString('latin1'));
      callback(null, out === '' ? undefined : binary(out));
    },
    flush(callback: TransformCallback) {
      if (!rewriting) {
        callback();
        return;
      }
      const out = rewriter.end();
      callback(null, out === '' ? undefined : binary(out));
    },
  });
}

/**
 * A stylesheet through the CSS rewriter. CSS is parsed whole, so it is collected first (it is small); past
 * `maxBytes` what was collected and the rest pass as they are.
 */
export function cssRewriteStream(stylesheetUrl: URL, marking: MarkingContext, maxBytes: number): Transform {
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
      callback(null, binary(rewriteStylesheet(css, stylesheetUrl, marking)));
    },
  });
}
