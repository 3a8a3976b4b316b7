import { SaxesParser } from 'saxes';

/** One child element of `<config>` as written: its attributes in document order and where it stands. */
export interface WrittenElement {
  readonly name: string;
  readonly attributes: ReadonlyMap<string, string>;
  readonly line: number;
}

export class XmlShapeError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/**
 * Reads the config document into the flat list of elements under its `<config>` root. The format is flat on
 * purpose: nested elements, text and a different root are errors, reported with the line they stand on.
 */
export function readConfigElements(xml: string): WrittenElement[] {
  const parser = new SaxesParser({ position: true });
  const elements: WrittenElement[] = [];
  let depth = 0;
  let failure: XmlShapeError | undefined;
  const fail = (message: string) => {
    failure ??= new XmlShapeError(message, parser.line);
  };

  parser.on('error', (err) => {
    // saxes prefixes its messages with "line:column: "; keep only the reason, the line is reported separately.
    fail(`not well-formed XML: ${err.message.replace(/^\d+:\d+: /, '')}`);
  });
  parser.on('opentag', (tag) => {
    depth += 1;
    if (depth === 1 && tag.name !== 'config') fail(`the root element must be <config>, not <${tag.name}>`);
    if (depth === 2) {
      const attributes = new Map<string, string>();
      for (const [name, value] of Object.entries(tag.attributes)) attributes.set(name, String(value));
      elements.push({ name: tag.name, attributes, line: parser.line });
    }
    if (depth > 2) fail(`unexpected element <${tag.name}> nested inside another element; every setting is a direct child of <config>`);
  });
  parser.on('closetag', () => {
    depth -= 1;
  });
  parser.on('text', (text) => {
    if (text.trim() !== '') fail(`unexpected text "${text.trim().slice(0, 40)}"; settings are attributes`);
  });
  parser.on('cdata', () => fail('unexpected CDATA; settings are attributes'));

  try {
    parser.write(xml).close();
  } catch (err) {
    fail(`not well-formed XML: ${(err as Error).message.replace(/^\d+:\d+: /, '')}`);
  }
  if (failure) throw failure;
  if (depth !== 0 || (elements.length === 0 && !/<config[\s/>]/.test(xml))) {
    throw new XmlShapeError('the document must be one <config> element', parser.line);
  }
  return elements;
}
