import { html, Parser, Token, type TreeAdapter, type TreeAdapterTypeMap } from 'parse5';
import { RunTokenizer } from './run-tokenizer.js';

/**
 * A node of the lean tree the rewriter keeps: an element (or the document, a fragment) and its parent, nothing
 * else. Children are never stored, so a node is garbage once it has left the stack of open elements and no open
 * descendant points to it: memory follows the nesting depth, not the page.
 */
export interface TreeNode {
  readonly tagName: string;
  readonly namespaceURI: html.NS;
  readonly attrs: Token.Attribute[];
  parent: TreeNode | null;
  /** A template's content fragment. */
  content?: TreeNode;
  /** For a template's content fragment: its template. */
  host?: TreeNode;
  /** The node this one was inserted before (foster parenting puts a node before its table), if it was. */
  before?: TreeNode;
  /** For the document: quirks mode decides parsing too (a `<table>` does not close a `<p>` in quirks mode). */
  mode?: html.DOCUMENT_MODE;
}

type LeanTree = TreeAdapterTypeMap<TreeNode, TreeNode, TreeNode, TreeNode, TreeNode, TreeNode, TreeNode, TreeNode, TreeNode, TreeNode>;

/** What the rewriter hears from the tree builder, in document order. */
export interface TreeEvents {
  /** A start tag was read (before the tree builder acts on it, whether or not it makes an element). */
  startTag(location: Token.LocationWithAttributes): void;
  /** An element made from the start tag being read (not an implied element, not a reconstructed formatting one). */
  element(node: TreeNode, location: Token.LocationWithAttributes): void;
  /** A repeated `<html>` or `<body>` start tag: `added` are the attributes it merged into the existing element. */
  merged(node: TreeNode, added: readonly Token.Attribute[], location: Token.LocationWithAttributes): void;
  /** An element left the stack of open elements; `endTag` is where the end tag that closed it stands, if one did. */
  closed(node: TreeNode, endTag: Token.Location | undefined): void;
  /** Every token up to this offset has been read. */
  read(offset: number): void;
}

/** What repeated `<html>`/`<body>` tags added to the existing element, waiting to be reported. */
type Merges = { node: TreeNode; added: Token.Attribute[] }[];

const NO_ATTRIBUTES: Token.Attribute[] = [];

function node(tagName: string, namespaceURI: html.NS, attrs: Token.Attribute[]): TreeNode {
  return { tagName, namespaceURI, attrs, parent: null };
}

const ignore = (): void => undefined;

function isInclusiveAncestor(ancestor: TreeNode, node: TreeNode | null): boolean {
  for (; node; node = node.parent) if (node === ancestor) return true;
  return false;
}

/**
 * Whether `later`, inserted after `earlier`, stands before it in tree order. A node appended to an open element
 * comes after everything already there; the tree builder puts a node ahead of existing ones only by inserting it
 * (or an ancestor) before another node, the table of foster parenting (HTML standard §13.2.6.1), which is open
 * while that happens: then exactly what lies in that node's subtree comes after.
 */
export function precedes(later: TreeNode, earlier: TreeNode): boolean {
  for (let node: TreeNode | null = later; node; node = node.parent) {
    if (node.before && isInclusiveAncestor(node.before, earlier)) return true;
  }
  return false;
}

/**
 * parse5's tree adapter interface over lean nodes. The parser only asks a tree for names, namespaces, attributes,
 * parents and template contents; text, comments and the doctype are dropped (the rewriter reads text from the
 * source). `merges` records what a repeated `<html>`/`<body>` tag added, for `TreeBuilder` to report.
 */
function leanAdapter(merges: Merges): TreeAdapter<LeanTree> {
  return {
    createDocument: () => node('#document', html.NS.HTML, NO_ATTRIBUTES),
    createDocumentFragment: () => node('#document-fragment', html.NS.HTML, NO_ATTRIBUTES),
    createElement: (tagName, namespaceURI, attrs) => node(tagName, namespaceURI, attrs),
    createCommentNode: () => node('#comment', html.NS.HTML, NO_ATTRIBUTES),
    createTextNode: () => node('#text', html.NS.HTML, NO_ATTRIBUTES),
    appendChild: (parent, child) => {
      child.parent = parent;
    },
    insertBefore: (parent, child, reference) => {
      child.parent = parent;
      child.before = reference;
    },
    setTemplateContent: (template, content) => {
      template.content = content;
      content.host = template;
    },
    getTemplateContent: (template) => template.content ?? template,
    setDocumentType: ignore,
    setDocumentMode: (document, mode) => {
      document.mode = mode;
    },
    getDocumentMode: (document) => document.mode ?? html.DOCUMENT_MODE.NO_QUIRKS,
    detachNode: (child) => {
      child.parent = null;
    },
    insertText: ignore,
    insertTextBefore: ignore,
    adoptAttributes: (recipient, attrs) => {
      // Only attributes the element does not have yet are taken (HTML standard §13.2.6.4.7, "html"/"body" start tag).
      // Reported even when nothing is added: the tag's own `ai-compress` must still go.
      const added = attrs.filter((attr) => !recipient.attrs.some((own) => own.name === attr.name));
      recipient.attrs.push(...added);
      merges.push({ node: recipient, added });
    },
    getFirstChild: () => null,
    getChildNodes: () => [],
    getParentNode: (child) => child.parent,
    getAttrList: (element) => element.attrs,
    getTagName: (element) => element.tagName,
    getNamespaceURI: (element) => element.namespaceURI,
    getTextNodeContent: () => '',
    getCommentNodeContent: () => '',
    getDocumentTypeNodeName: () => '',
    getDocumentTypeNodePublicId: () => '',
    getDocumentTypeNodeSystemId: () => '',
    isTextNode: (n): n is TreeNode => n.tagName === '#text',
    isCommentNode: (n): n is TreeNode => n.tagName === '#comment',
    isDocumentTypeNode: (n): n is TreeNode => n.tagName === '#doctype',
    isElementNode: (n): n is TreeNode => !n.tagName.startsWith('#'),
    setNodeSourceCodeLocation: ignore,
    getNodeSourceCodeLocation: () => undefined,
    updateNodeSourceCodeLocation: ignore,
  };
}

/**
 * parse5's own tree builder (the HTML standard's tree construction: insertion modes, foreign content and its
 * breakouts, integration points, templates, foster parenting, the adoption agency), driven token by token as the
 * page streams, over lean nodes. It tells the rewriter which elements the standard makes from which start tags;
 * the rewriter never has to guess from tag names. Text and comment nodes are not built at all, nor locations
 * copied onto nodes (the overrides below): still, the tree builder with locations runs at about half the bare
 * tokenizer's speed on markup (`npm run bench:linear`).
 */
export class TreeBuilder extends Parser<LeanTree> {
  private events!: TreeEvents;
  private merges!: Merges;
  private atEof = false;

  constructor(...args: ConstructorParameters<typeof Parser<LeanTree>>) {
    super(...args);
    // The same tokenizer states and tokens, with runs of plain input taken in one step (run-tokenizer.ts).
    this.tokenizer = new RunTokenizer(this.options, this);
  }

  /** A builder for a whole document. With `scripting`, `<noscript>` holds text, as in a browser that runs scripts. */
  static forDocument(events: TreeEvents, scripting: boolean): TreeBuilder {
    const merges: Merges = [];
    const builder = new TreeBuilder({ sourceCodeLocationInfo: true, scriptingEnabled: scripting, treeAdapter: leanAdapter(merges) });
    builder.events = events;
    builder.merges = merges;
    return builder;
  }

  /**
   * A builder for markup inside a `<body>`, with scripting off: how a browser that does not run scripts reads the
   * content of a `<noscript>` (SPEC §3 rewrites the `<img>`s there too).
   */
  static forBodyFragment(events: TreeEvents): TreeBuilder {
    const merges: Merges = [];
    const adapter = leanAdapter(merges);
    // getFragmentParser constructs `this` class: the builder gets the overrides below.
    const builder = TreeBuilder.getFragmentParser(adapter.createElement('body', html.NS.HTML, []), {
      sourceCodeLocationInfo: true,
      scriptingEnabled: false,
      treeAdapter: adapter,
    }) as TreeBuilder;
    builder.events = events;
    builder.merges = merges;
    return builder;
  }

  override _attachElementToTree(
    element: TreeNode,
    location: Token.LocationWithAttributes | null,
    insertionLocation: { parent: TreeNode; beforeElement?: TreeNode | null },
  ): void {
    element.parent = insertionLocation.parent;
    if (insertionLocation.beforeElement) element.before = insertionLocation.beforeElement;
    // A reconstructed formatting element carries the location of the tag it copies, which was reported already.
    const token = this.currentToken;
    if (location && token?.type === Token.TokenType.START_TAG && token.location === location) this.events.element(element, location);
  }

  override _insertCharacters(): void {
    // Text nodes are not kept.
  }

  override _appendCommentNode(): void {
    // Comment nodes are not kept.
  }

  override _setEndLocation(): void {
    // Locations are not kept on nodes; `onItemPop` reports the end tag.
  }

  override onItemPop(popped: TreeNode, isTop: boolean): void {
    super.onItemPop(popped, isTop);
    const token = this.currentToken;
    const closing = !this.atEof && token?.type === Token.TokenType.END_TAG && token.tagName === popped.tagName ? token.location : null;
    this.events.closed(popped, closing ?? undefined);
  }

  override onStartTag(token: Token.TagToken): void {
    if (token.location) this.events.startTag(token.location);
    super.onStartTag(token);
    if (this.merges.length > 0 && token.location) {
      for (const merge of this.merges.splice(0)) this.events.merged(merge.node, merge.added, token.location);
    }
    this.readUpTo(token);
  }

  override onEndTag(token: Token.TagToken): void {
    super.onEndTag(token);
    this.readUpTo(token);
  }

  override onComment(token: Token.CommentToken): void {
    super.onComment(token);
    this.readUpTo(token);
  }

  override onDoctype(token: Token.DoctypeToken): void {
    super.onDoctype(token);
    this.readUpTo(token);
  }

  override onCharacter(token: Token.CharacterToken): void {
    super.onCharacter(token);
    this.readUpTo(token);
  }

  override onNullCharacter(token: Token.CharacterToken): void {
    super.onNullCharacter(token);
    this.readUpTo(token);
  }

  override onWhitespaceCharacter(token: Token.CharacterToken): void {
    super.onWhitespaceCharacter(token);
    this.readUpTo(token);
  }

  private readUpTo(token: { readonly location: Token.Location | null }): void {
    if (token.location) this.events.read(token.location.endOffset);
  }

  override onEof(token: Token.EOFToken): void {
    this.atEof = true;
    super.onEof(token);
  }
}
