export { rewriteStylesheet } from './css-rewriter.js';
export { HtmlRewriter, type HtmlRewriteOptions } from './html-rewriter.js';
export type { MarkingContext } from './url-marker.js';
export { cssRewriteStream, htmlRewriteStream, MAX_REWRITTEN_STYLESHEET } from './streams.js';
