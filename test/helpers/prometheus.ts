/** Prometheus text, parsed by a real parser (parse-prometheus-text-format), for metrics tests. */
import parse from 'parse-prometheus-text-format'

export type Sample = {
  value?: string
  labels?: Record<string, string>
  count?: string
  sum?: string
  buckets?: Record<string, string>
}
export type Family = { name: string; help: string; type: string; metrics: Sample[] }

export const parsePrometheus = (text: string): Family[] => parse(text) as Family[]

/** The value of `name`'s sample whose labels include `labels` (0 when the series is absent). */
export function sampleValue(
  families: Family[],
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.find((f) => f.name === name)
  const sample = family?.metrics.find((m) =>
    Object.entries(labels).every(([key, value]) => m.labels?.[key] === value),
  )
  return Number(sample?.value ?? sample?.count ?? 0)
}
