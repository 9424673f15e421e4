// A bar chart as inline SVG, for a result of one label column and one number column.
const SVG = 'http://www.w3.org/2000/svg';
const NUMERIC = /^(smallint|integer|bigint|numeric|decimal|real|double precision|int[248]?|float[48]?|money)\b/i;

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

export function isNumeric(column) { return NUMERIC.test(String(column.type || '')); }

// {label, value} indexes when the result fits a chart, else null.
export function chartable(columns) {
  if (columns.length !== 2) return null;
  const numeric = columns.map(isNumeric);
  if (numeric[0] === numeric[1]) return null;
  return numeric[1] ? { label: 0, value: 1 } : { label: 1, value: 0 };
}

export function barChart(columns, rows, shape) {
  const shown = rows.slice(0, 40);
  const values = shown.map((row) => Number(row[shape.value]) || 0);
  const max = Math.max(0, ...values) || 1;
  const barHeight = 22;
  const labelWidth = 180;
  const width = 640;
  const height = shown.length * (barHeight + 6) + 10;
  const title = `${columns[shape.value].name} by ${columns[shape.label].name}`;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Bar chart: ${title}`, class: 'chart' });
  root.append(svg('title', {}, title));
  shown.forEach((row, i) => {
    const y = 5 + i * (barHeight + 6);
    const label = row[shape.label] === null ? '(none)' : String(row[shape.label]);
    const barWidth = Math.max(1, ((width - labelWidth - 80) * Math.max(values[i], 0)) / max);
    root.append(svg('text', { x: labelWidth - 8, y: y + barHeight * 0.7, 'text-anchor': 'end', class: 'chart-label' },
      label.length > 24 ? `${label.slice(0, 23)}…` : label));
    root.append(svg('rect', { x: labelWidth, y, width: barWidth, height: barHeight, class: 'bar' }));
    root.append(svg('text', { x: labelWidth + barWidth + 6, y: y + barHeight * 0.7, class: 'chart-value' }, String(row[shape.value])));
  });
  return root;
}
