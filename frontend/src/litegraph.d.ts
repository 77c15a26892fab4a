// The parts of litegraph.js (core build) the pipeline editor uses; the package's own typings do
// not cover the core build's path.
declare module 'litegraph.js/build/litegraph.core.js' {
  export class LGraphNode {
    id: number;
    title: string;
    type: string;
    pos: [number, number];
    size: [number, number];
    properties: Record<string, unknown>;
    inputs: { name: string; link: number | null }[];
    outputs: { name: string; links: number[] | null }[];
    widgets?: { name: string; type?: string; value: unknown }[];
    addInput(name: string, type: string): void;
    addOutput(name: string, type: string): void;
    addWidget(
      type: string,
      name: string,
      value: unknown,
      callback: (v: unknown) => void,
      options?: Record<string, unknown>,
    ): unknown;
    connect(slot: number, target: LGraphNode, targetSlot: number): unknown;
    addCustomWidget(widget: {
      name: string;
      type: string;
      value: unknown;
      computeSize(width: number): [number, number];
      draw(ctx: CanvasRenderingContext2D, node: LGraphNode, width: number, y: number, height: number): void;
    }): unknown;
    computeSize(): [number, number];
    onConnectionsChange?: (type: number, slot: number, connected: boolean) => void;
  }
  export class LGraph {
    links: Record<number, { origin_id: number; target_id: number }>;
    add(node: LGraphNode): void;
    clear(): void;
    getNodeById(id: number): LGraphNode | undefined;
    start(): void;
    stop(): void;
    onNodeRemoved?: (node: LGraphNode) => void;
    _nodes: LGraphNode[];
  }
  /** The canvas's view: graph point p is drawn at (p + offset) × scale CSS pixels. */
  export class DragAndScale {
    scale: number;
    offset: [number, number];
    toCanvasContext(ctx: CanvasRenderingContext2D): void;
  }
  export class LGraphCanvas {
    constructor(canvas: HTMLCanvasElement, graph: LGraph, options?: Record<string, unknown>);
    ds: DragAndScale;
    /** Page (CSS) offset within the canvas of a graph point. */
    convertOffsetToCanvas(pos: [number, number]): [number, number];
    resize(width?: number, height?: number): void;
    setDirty(fg: boolean, bg?: boolean): void;
    read_only: boolean;
    /** Graph coordinates of a mouse or drag event over the canvas. */
    convertEventToCanvasOffset(e: MouseEvent): [number, number];
    show_info: boolean;
    allow_dragnodes: boolean;
  }
  export const LiteGraph: {
    registerNodeType(type: string, base: unknown): void;
    createNode(type: string): LGraphNode;
    registered_node_types: Record<string, unknown>;
    NODE_TITLE_HEIGHT: number;
    INPUT: number;
    OUTPUT: number;
  };
}
