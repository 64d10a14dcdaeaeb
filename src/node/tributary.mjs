#!/usr/bin/env node
// The `tributary` command (package.json "bin"): runs the TypeScript entry through tsx, so a
// fresh clone needs no build step. `tributary push …` is the only subcommand.
import { register } from 'tsx/esm/api'

register()
const [command, ...rest] = process.argv.slice(2)
if (command !== 'push') {
  process.stderr.write(
    `usage: tributary push [PATH...] [options]   (tributary push --help for the options)\n`,
  )
  process.exit(command === undefined || command === '--help' || command === '-h' ? 0 : 2)
}
const { main } = await import('./push.ts')
process.exitCode = await main(rest)
