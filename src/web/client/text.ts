/**
 * Transcript text for display. It is always inserted as a Text node; here only terminal escape
 * sequences (colours, cursor moves, OSC titles and links) are removed, and other control
 * characters are shown as visible symbols, so tool output reads as text and hides nothing.
 */
// CSI (ESC [ … final), OSC (ESC ] … BEL or ST), and two-character ESC sequences.
const esc = '\u001b'
const escapes = new RegExp(
  `${esc}\\[[0-?]*[ -/]*[@-~]|${esc}\\][^\\u0007${esc}]*(?:\\u0007|${esc}\\\\)?|${esc}[@-Z\\\\-_]|\\u009b[0-?]*[ -/]*[@-~]`,
  'g',
)
/** C0 controls other than tab and newline, and DEL; carriage returns are folded first. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters to make visible
const controls = /[\u0000-\u0008\u000b-\u001f\u007f]/g

export function displayText(raw: string): string {
  return raw
    .replace(escapes, '')
    .replace(/\r\n?/g, '\n')
    .replace(controls, (c) =>
      c === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0)),
    )
}

export const lineCount = (text: string): number => {
  let lines = 1
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++
  return lines
}

/** The first line, cut to `max` characters, for a collapsed block's summary. */
export function preview(text: string, max = 120): string {
  const first = text.trimStart().split('\n', 1)[0] ?? ''
  return first.length > max ? `${first.slice(0, max)}…` : first
}
