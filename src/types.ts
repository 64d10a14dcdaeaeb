import type { IngestObserver } from './ops/observer'

/** The Hono environment shared by the app, its sub-apps and middleware. */
export type AppEnv = {
  Variables: {
    /** The verified owner (JWT claim), set by the auth middleware; never from the payload. */
    owner: string
    requestId: string
    /** This request's observer (logs and metrics), set by the observe middleware when mounted. */
    observer?: IngestObserver
  }
}
