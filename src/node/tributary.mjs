#!/usr/bin/env -S node --max-semi-space-size=2
// The `tributary` command (package.json "bin"). A fresh clone needs no build step: the
// TypeScript entry is bundled here with esbuild (a dev dependency, ~0.1 s) into dist/, then run
// in this process, which keeps the client free of a TypeScript loader thread and its memory.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

// esbuild runs a sync build in a worker thread that stays for the whole push (~20 MB of the
// client's RSS); without worker threads it runs its binary as a child process, gone after.
process.env.ESBUILD_WORKER_THREADS = '0'
const { buildSync } = await import('esbuild')

const [command, ...rest] = process.argv.slice(2)
if (command !== 'push') {
  process.stderr.write('usage: tributary push [PATH...] [options]   (tributary push --help)\n')
  process.exit(command === undefined || command === '--help' || command === '-h' ? 0 : 2)
}
const entry = fileURLToPath(new URL('./push.ts', import.meta.url))
const outfile = fileURLToPath(new URL('../../dist/node/push.mjs', import.meta.url))
mkdirSync(fileURLToPath(new URL('../../dist/node/', import.meta.url)), { recursive: true })
const built = buildSync({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile,
  write: false,
  logLevel: 'warning',
})
// Written aside and renamed, so a second push starting at the same moment reads a whole file.
const temporary = `${outfile}.${process.pid}.tmp`
writeFileSync(temporary, built.outputFiles[0].contents)
renameSync(temporary, outfile)
const { main } = await import(pathToFileURL(outfile).href)
process.exitCode = await main(rest)
