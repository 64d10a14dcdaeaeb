/**
 * Process groups: `npm start` and the benchmark spawn wrangler (which spawns workerd) and sqld
 * detached, each in a group of its own, and stop a whole group so that nothing is left behind.
 */

/** Whether any process of group `pgid` is still alive. */
export const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Send `signal` to every process of group `pgid`; a group that is gone already is fine. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // the group is gone already
  }
}
