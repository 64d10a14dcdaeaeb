// The writer thread run from its TypeScript source (under tsx or vitest): tsx's loader first.
import { register } from 'tsx/esm/api'

register()
await import('./thread.ts')
