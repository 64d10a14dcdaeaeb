/** The page's built assets (src/web/build.ts writes assets.gen.js; these are its types). */
export type Asset = {
  /** File name with its content hash, served under /assets/. */
  name: string
  /** Content-Type. */
  type: string
  body: string
  etag: string
  /** Subresource Integrity value for the tag that loads it. */
  integrity: string
}
export declare const script: Asset
export declare const stylesheet: Asset
