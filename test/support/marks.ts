/** Every mark the rewriters insert, in the forms they insert it (`?`, `&`, `&amp;` before `m=`). */
const INSERTED_MARK = /(\?|&amp;|&)m=ic(,webp)?(,avif)?(,zorro)?(?=[#"'\s>),;]|$)/g;

/** The document with the marks taken out again: for byte-preservation checks (on binary strings). */
export function withoutMarks(document: string): string {
  return document.replace(INSERTED_MARK, '');
}

export const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
export const IE11_UA = 'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko';
export const CURL_UA = 'curl/8.5.0';
