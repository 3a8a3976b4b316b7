export {
  capabilitiesOfMark,
  type DecodedMark,
  decodeMarkedUrl,
  isMarked,
  isMarkValue,
  MARK_PARAMETER,
  type MarkInsertion,
  markInsertion,
  markUrl,
  markValue,
} from './mark.js';
export { resolvesToSite } from './same-site.js';
