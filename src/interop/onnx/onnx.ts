// ONNX models as protobuf messages (onnx/onnx.proto, whose field numbers are used below):
// a graph of nodes over named values, its inputs and outputs with types and shapes, and its
// initializers (constant tensors: the weights), each stored inline (raw_data) or, for the
// big ones, as external data: bytes in a file beside the model, found by location, offset
// and length (the ONNX external-data convention), so a model whose tables pass protobuf's
// 2 GiB limit can still be written.
//
// Only what a feed-forward model needs: no subgraphs, no sparse initializers.

import { ProtoMessage, type DeferredBytes } from "./protobuf.ts";

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;
export type OnnxElemType = typeof ONNX_FLOAT | typeof ONNX_INT64;

/** A dimension: a fixed size, or a symbolic name (dim_param) such as "batch". */
export type OnnxDim = number | string;

export type OnnxAttribute =
  | { kind: "int"; value: number }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "float"; value: number }
  | { kind: "string"; value: string }
  | { kind: "tensor"; value: OnnxTensor };

export interface OnnxNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttribute>>;
}

/** Where a tensor's bytes live: in the model, or in an external file. */
export type OnnxTensorData =
  | { kind: "raw"; bytes: Uint8Array | DeferredBytes }
  | { kind: "external"; location: string; offset: number; length: number };

export interface OnnxTensor {
  name: string;
  elemType: OnnxElemType;
  dims: readonly number[];
  data: OnnxTensorData;
}

export interface OnnxValueInfo {
  name: string;
  elemType: OnnxElemType;
  shape: readonly OnnxDim[];
}

export interface OnnxModel {
  /** IR version (8 goes with opsets up to 18). */
  irVersion: number;
  opset: number;
  producer: string;
  producerVersion: string;
  docString: string;
  graphName: string;
  nodes: readonly OnnxNode[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  initializers: readonly OnnxTensor[];
  metadata: Readonly<Record<string, string>>;
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_TENSOR = 4;
const ATTR_INTS = 7;
const DATA_LOCATION_EXTERNAL = 1;

/** A TensorProto: dims=1, data_type=2, name=8, raw_data=9, external_data=13, data_location=14. */
export function tensorProto(t: OnnxTensor): ProtoMessage {
  const m = new ProtoMessage();
  m.packedInts(1, t.dims);
  m.int(2, t.elemType);
  m.string(8, t.name);
  if (t.data.kind === "raw") return m.bytes(9, t.data.bytes);
  const entry = (key: string, value: string): ProtoMessage => new ProtoMessage().string(1, key).string(2, value);
  m.message(13, entry("location", t.data.location));
  m.message(13, entry("offset", String(t.data.offset)));
  m.message(13, entry("length", String(t.data.length)));
  return m.int(14, DATA_LOCATION_EXTERNAL);
}

/** An AttributeProto: name=1, f=2, i=3, s=4, t=5, ints=8, type=20. */
function attributeProto(name: string, a: OnnxAttribute): ProtoMessage {
  const m = new ProtoMessage().string(1, name);
  switch (a.kind) {
    case "float":
      return m.float(2, a.value).int(20, ATTR_FLOAT);
    case "int":
      return m.int(3, a.value).int(20, ATTR_INT);
    case "string":
      return m.string(4, a.value).int(20, ATTR_STRING);
    case "tensor":
      return m.message(5, tensorProto(a.value)).int(20, ATTR_TENSOR);
    case "ints":
      // Repeated ints, one key each (the form onnx's own helper writes; packed is also legal).
      for (const v of a.value) m.int(8, v);
      return m.int(20, ATTR_INTS);
  }
}

/** A NodeProto: input=1, output=2, name=3, op_type=4, attribute=5. */
function nodeProto(n: OnnxNode, name: string): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, name);
  m.string(4, n.op);
  for (const [k, a] of Object.entries(n.attributes ?? {})) m.message(5, attributeProto(k, a));
  return m;
}

/** A ValueInfoProto: name=1, type=2 → TypeProto.tensor_type=1 → elem_type=1, shape=2 → dim=1 → dim_value=1 | dim_param=2. */
function valueInfoProto(v: OnnxValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of v.shape)
    shape.message(1, typeof d === "number" ? new ProtoMessage().int(1, d) : new ProtoMessage().string(2, d));
  const tensorType = new ProtoMessage().int(1, v.elemType).message(2, shape);
  return new ProtoMessage().string(1, v.name).message(2, new ProtoMessage().message(1, tensorType));
}

/** A ModelProto: ir_version=1, producer_name=2, producer_version=3, doc_string=6, graph=7, opset_import=8, metadata_props=14. */
export function modelProto(model: OnnxModel): ProtoMessage {
  // GraphProto: node=1, name=2, initializer=5, input=11, output=12.
  const graph = new ProtoMessage();
  model.nodes.forEach((n, i) => graph.message(1, nodeProto(n, `${n.op}_${i}`)));
  graph.string(2, model.graphName);
  for (const t of model.initializers) graph.message(5, tensorProto(t));
  for (const v of model.inputs) graph.message(11, valueInfoProto(v));
  for (const v of model.outputs) graph.message(12, valueInfoProto(v));

  const m = new ProtoMessage();
  m.int(1, model.irVersion);
  m.string(2, model.producer);
  m.string(3, model.producerVersion);
  m.string(6, model.docString);
  m.message(7, graph);
  m.message(8, new ProtoMessage().string(1, "").int(2, model.opset)); // OperatorSetIdProto: domain=1 ("" = ai.onnx), version=2
  for (const [key, value] of Object.entries(model.metadata))
    m.message(14, new ProtoMessage().string(1, key).string(2, value));
  return m;
}
