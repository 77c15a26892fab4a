import { NODE_ID_RULE, structureProblems } from '@nullops/plugin-sdk';
import { z } from 'zod';

/**
 * A pipeline graph: nodes are components with params, edges say "from must finish before to".
 * The editor's layout (positions) is kept so a saved version reopens as it was drawn.
 */
export const PipelineGraph = z
  .object({
    nodes: z
      .array(
        z
          .object({
            id: z.string().max(64).describe(`the node's name in references and step events; ${NODE_ID_RULE}`),
            type: z
              .string()
              .max(128)
              .regex(
                /^[a-z0-9-]+(\.[a-z0-9-]+)+$/,
                'must be a namespaced component type such as container.service',
              ),
            version: z.number().int().min(1).default(1),
            title: z.string().max(200).optional(),
            params: z.record(z.string(), z.unknown()).default({}),
            position: z.tuple([z.number(), z.number()]).optional(),
          })
          .strict(),
      )
      .max(500, 'at most 500 nodes'),
    edges: z
      .array(z.object({ from: z.string(), to: z.string() }).strict())
      .max(5000)
      .default([]),
  })
  .strict()
  .superRefine((graph, ctx) => {
    for (const problem of structureProblems(graph)) ctx.addIssue({ code: 'custom', ...problem });
  });

export type PipelineGraph = z.infer<typeof PipelineGraph>;
