// Helpers for the stand-in's own tests. The binder and watches act asynchronously, as the real ones
// do, so the tests poll with the provisioner tests' waitFor.
export { waitFor } from '../helpers/cluster.ts';

/** The Status body of a refused client-node call, whatever shape client-node hands the error in. */
export async function refusal(call: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await call;
  } catch (error) {
    const { code, body } = error as { code: number; body: unknown };
    return { code, body: (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown> };
  }
  throw new Error('the call succeeded');
}
