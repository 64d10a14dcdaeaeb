/**
 * A hand-drawn SVG bar chart (stacked series per day): a few dozen elements, no library. Every
 * day is a <g> carrying its values as data-* attributes and a <title> tooltip, so what is drawn
 * can be read back exactly; a legend names the series.
 */
import { h, s } from './dom'
import { short } from './format'

export type Series = { key: string; label: string; className: string; values: number[] }

const width = 720
const height = 240
const pad = { top: 12, right: 12, bottom: 28, left: 52 }

/** A "nice" axis maximum (1, 2 or 5 times a power of ten) at or above `value`. */
function niceMax(value: number): number {
  if (value <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power
  return 10 * power
}

export function barChart(options: {
  days: string[]
  series: Series[]
  format: (value: number) => string
  label: string
}): HTMLElement {
  const { days, series, format } = options
  const totals = days.map((_, i) => series.reduce((sum, one) => sum + (one.values[i] ?? 0), 0))
  const max = niceMax(Math.max(0, ...totals))
  const plotWidth = width - pad.left - pad.right
  const plotHeight = height - pad.top - pad.bottom
  const slot = plotWidth / Math.max(1, days.length)
  const barWidth = Math.max(1, slot * 0.75)
  const y = (value: number) => pad.top + plotHeight - (value / max) * plotHeight

  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'bars',
    role: 'img',
    'aria-label': options.label,
  })
  // Round steps: a 5 × 10ⁿ or 1 × 10ⁿ axis in fifths, a 2 × 10ⁿ one in quarters.
  const steps = String(max)
    .replace(/^0\.0*/, '')
    .startsWith('2')
    ? 4
    : 5
  for (let tick = 0; tick <= steps; tick++) {
    const value = (max * tick) / steps
    svg.append(
      s('line', { class: 'grid', x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }),
      s(
        'text',
        { class: 'axis', x: pad.left - 6, y: y(value) + 4, 'text-anchor': 'end' },
        tick === 0 ? '0' : short(value),
      ),
    )
  }
  // A label every few days, so they never overlap.
  const every = Math.max(1, Math.ceil(days.length / 10))
  days.forEach((day, i) => {
    const x = pad.left + i * slot + (slot - barWidth) / 2
    const group = s('g', { class: 'day', 'data-day': day })
    const parts = series.map((one) => `${one.label} ${format(one.values[i] ?? 0)}`)
    group.append(s('title', {}, `${day}: ${parts.join(', ')}`))
    let base = 0
    for (const one of series) {
      const value = one.values[i] ?? 0
      group.setAttribute(`data-${one.key}`, String(value))
      if (value > 0) {
        const top = y(base + value)
        group.append(
          s('rect', {
            class: one.className,
            x,
            y: top,
            width: barWidth,
            height: Math.max(0.5, y(base) - top),
          }),
        )
      }
      base += value
    }
    svg.append(group)
    if (i % every === 0) {
      svg.append(
        s(
          'text',
          { class: 'axis', x: x + barWidth / 2, y: height - 10, 'text-anchor': 'middle' },
          day.slice(5),
        ),
      )
    }
  })
  const legend = h(
    'ul',
    { class: 'legend' },
    ...series.map((one) => h('li', {}, h('span', { class: `swatch ${one.className}` }), one.label)),
  )
  return h('div', { class: 'chart-body' }, svg, legend)
}
