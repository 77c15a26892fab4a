import { defineComponent, z } from '@nullops/plugin-sdk';

/** What the editor shows as node widgets, and what the agent validates before `run`. */
export const helloParams = z
  .object({
    /** Who to greet; may reference a secret (`${secret:NAME}`) or an output (`${output:node.key}`). */
    name: z.string().min(1).max(100),
    /** Any image with a POSIX shell. */
    image: z.string().min(1).default('busybox:1.36'),
  })
  .strict();

/**
 * `acme.hello`: runs a one-off container on the deployment's network that prints a greeting, and
 * outputs it for later nodes (`${output:<this node>.greeting}`).
 */
export const hello = defineComponent({
  type: 'acme.hello',
  version: 1,
  title: 'Say hello',
  category: 'Examples',
  params: helloParams,
  outputs: { greeting: { description: 'the greeting that was printed' } },
  timeoutMs: 5 * 60_000,
  async run(ctx, p) {
    ctx.log(`greeting ${p.name} from ${p.image}`);
    const result = await ctx.runtime.runJob(
      ctx.deployment.id,
      {
        name: 'hello',
        image: p.image,
        // Values travel as environment variables, not in the command line.
        command: ['sh', '-c', 'echo "hello, $NAME (from $(hostname))"'],
        env: { NAME: p.name },
      },
      ctx.signal,
    );
    if (result.exitCode !== 0)
      throw new Error(`the hello job failed (exit ${result.exitCode}): ${result.output}`);
    const greeting = result.output.trim();
    ctx.log(greeting);
    return { greeting };
  },
  // Undo what `run` did when a later step fails or the deployment is cancelled. A job leaves
  // nothing behind, so there is nothing to do here; a component that creates something removes it.
  async rollback(ctx) {
    ctx.log('nothing to undo');
  },
});
