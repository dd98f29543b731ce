# An independent look at `dlrm export`'s files: the ONNX project's own checker
# (onnx.checker.check_model with full_check, which also runs its shape inference) on each
# model named on the command line, external data included. Not part of `npm test` (the tests
# need no Python); run it by hand after changing src/interop/onnx/onnx.ts or src/interop/onnx/export_onnx.ts:
#
#   apt-get install python3-onnx     # Debian's onnx 1.12 (IR 8, opset 17)
#   /usr/bin/python3 test/helpers/onnx_checker.py model.onnx [more.onnx ...]
#
# docs/serving.md records the last run.
import sys

import onnx

for path in sys.argv[1:]:
    # Checking by path lets the checker follow external data, and resolves it beside the model.
    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{path}: ok (IR {model.ir_version}, opset {model.opset_import[0].version}, {len(model.graph.node)} nodes: {', '.join(ops)})")
