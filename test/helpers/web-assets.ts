/**
 * Global setup of both test projects: the page's generated assets module (src/web/assets.gen.js)
 * is built before any test imports the app, which serves it.
 */
import { buildWebAssets } from '../../src/web/build'

export default async function setup() {
  await buildWebAssets()
}
