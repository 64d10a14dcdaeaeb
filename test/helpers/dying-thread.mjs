// The writer thread, made to die between a COMMIT and its answer: the first batch (per database)
// holding DIE_MARKER is committed, then the thread exits before it replies, as a crash would.
import { existsSync, writeFileSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

const DIE_MARKER = 'the writer thread dies after committing this line'

register()
const port = parentPort
const once = `${workerData.path}.died`
const doomed = new Set()
// The thread's own listener sees each message after this look; a listener of our own would
// start the port's flow before the thread listens, and the first messages would be lost to it.
const on = port.on.bind(port)
port.on = (event, listener) =>
  on(event, (message) => {
    const batch = message?.op === 'append' || message?.op === 'seal'
    if (batch && JSON.stringify(message).includes(DIE_MARKER) && !existsSync(once)) {
      doomed.add(message.id)
    }
    listener(message)
  })
const post = port.postMessage.bind(port)
port.postMessage = (reply) => {
  if (reply?.ok === true && doomed.has(reply.id)) {
    writeFileSync(once, '')
    process.exit(1)
  }
  post(reply)
}
await import('../../src/node/writer/thread.ts')
