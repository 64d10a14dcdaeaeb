/** What global-setup.ts provides to the workerd tests through vitest's `inject`. */
declare module 'vitest' {
  export interface ProvidedContext {
    sqldUrl: string
    /** The same sqld behind a proxy that never answers a request holding HANG_MARKER. */
    hangUrl: string
  }
}

export {}
