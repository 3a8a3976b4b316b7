/** One line of the benchmark table: a figure next to the baseline measured in the same run. */
export interface Row {
  readonly group: string;
  readonly metric: string;
  readonly baseline: string;
  readonly value: string;
  /** value ÷ baseline (NaN: no baseline). */
  readonly ratio: number;
}

/** The table as aligned text, one group heading per group. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['', 'baseline', 'slimproxy', 'ratio'];
  const cells = rows.map((row) => [`  ${row.metric}`, row.baseline, row.value, Number.isNaN(row.ratio) ? '' : row.ratio.toFixed(2)]);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i]!.length)));
  const format = (line: string[]) => line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const out = [format(header), widths.map((width) => '─'.repeat(width)).join('  ')];
  let group = '';
  rows.forEach((row, i) => {
    if (row.group !== group) {
      group = row.group;
      out.push(group);
    }
    out.push(format(cells[i]!));
  });
  return out.join('\n');
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A bar chart (SVG, no outside resources) of image bytes per page view, direct against slimproxy, per page. */
export function bytesChart(pages: readonly { page: string; direct: number; proxy: number }[], origin: string): string {
  const barHeight = 14;
  const rowHeight = barHeight * 2 + 14;
  const left = 170;
  const width = 760;
  const plot = width - left - 90;
  const top = 44;
  const height = top + pages.length * rowHeight + 30;
  const max = Math.max(1, ...pages.map((page) => Math.max(page.direct, page.proxy)));
  const bar = (x: number, y: number, bytes: number, colour: string) => {
    const length = Math.max(1, (bytes / max) * plot);
    return `<rect x="${x}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${colour}"/><text x="${(x + length + 4).toFixed(1)}" y="${y + barHeight - 3}" font-size="11">${(bytes / 1024).toFixed(1)} KB</text>`;
  };
  const rows = pages.map((page, i) => {
    const y = top + i * rowHeight;
    return [
      `<text x="${left - 8}" y="${y + barHeight + 4}" font-size="12" text-anchor="end">${escape(page.page)}</text>`,
      bar(left, y, page.direct, '#9aa5b1'),
      bar(left, y + barHeight + 2, page.proxy, '#2f7d32'),
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="12" y="20" font-size="14" font-weight="bold">Image bytes per page view, Chromium, ${escape(origin)}</text>
<rect x="${left}" y="28" width="10" height="10" fill="#9aa5b1"/><text x="${left + 14}" y="37" font-size="11">direct from the origin</text>
<rect x="${left + 150}" y="28" width="10" height="10" fill="#2f7d32"/><text x="${left + 164}" y="37" font-size="11">through slimproxy (balanced)</text>
${rows.join('\n')}
</svg>
`;
}
