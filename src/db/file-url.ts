/**
 * A `file:` LIBSQL_URL as the one path of its database file, the way @libsql/client reads it:
 * percent-escapes decoded, `file://localhost/` the same as `file:///`, the query dropped. Every
 * side that opens the file (migrations, readiness, the writer thread) takes its path from here,
 * so they all open the same database.
 */

/**
 * The path `url` (a `file:` URL) names: absolute, or relative to the working directory. Throws
 * on `:memory:` (each connection would get an empty database of its own), a host other than
 * localhost, an empty path or a bad escape.
 */
export function fileDatabasePath(url: string): string {
  if (!url.startsWith('file:')) throw new Error('not a file: URL')
  let rest = url.slice('file:'.length)
  const query = rest.search(/[?#]/)
  if (query !== -1) rest = rest.slice(0, query)
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2)
    const host = rest.slice(2, slash === -1 ? rest.length : slash)
    if (host !== '' && host.toLowerCase() !== 'localhost') {
      throw new Error('a file: URL may name no host but localhost')
    }
    rest = slash === -1 ? '' : rest.slice(slash)
  }
  const path = decodeURIComponent(rest)
  if (path === '' || path.includes('\0')) throw new Error('a file: URL must name a file')
  if (path === ':memory:' || path.startsWith(':memory:')) {
    throw new Error('an in-memory database is not one database across connections')
  }
  return path
}
