// Python pickles, protocol 2, restricted: the reader runs no code. It understands only the
// opcodes torch.load(weights_only=True) understands, and a GLOBAL (a reference to a Python
// class or function) is looked up in a table its caller gives (src/interop/torch/torch_save.ts: tensor
// rebuilding, storage types, OrderedDict, numpy scalars); any other global is an error naming
// it. Every length is checked against the bytes left, and every memo index and stack access
// is checked.
//
// Memory is bounded by the input's size: one byte can make a dict (`}`, ~240 bytes of heap),
// so a 20 MB pickle of empty dicts would take gigabytes. Each value made or stored is charged
// its estimated heap size (COST), against a budget of BUDGET_PER_BYTE bytes per pickle byte
// plus BUDGET_BASE; a pickle that exceeds it is refused. A torch.save state_dict uses a few
// bytes of budget per byte (test/interop/torch/torch_pt.test.ts).
//
// The writer emits the same subset (what Python's own pickler writes at protocol 2 for dicts,
// lists, tuples, str, int, float, bool, None and reduce calls), so torch.load(weights_only=True)
// reads what it writes.
//
// Glossary: memo the table of values a pickle refers back to (BINPUT/BINGET), mark a position
// on the stack that TUPLE/SETITEMS/APPENDS collect from.

/** A Python tuple. */
export class PyTuple {
  readonly items: PyValue[];
  constructor(items: PyValue[]) {
    this.items = items;
  }
}

/** A Python dict (or, ordered, a collections.OrderedDict); keys are str or int. */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** Attributes set by BUILD (an OrderedDict state_dict's `_metadata`). */
  attrs: PyValue = null;
  readonly ordered: boolean;
  constructor(ordered: boolean) {
    this.ordered = ordered;
  }
}

/** A value a global of the caller's table made (a tensor, a storage type, a numpy dtype). */
export interface PyObject {
  readonly kind: string;
  /** BUILD with this state (absent: BUILD on it is an error). */
  build?(state: PyValue): void;
}

export type PyKey = string | number | bigint;
export type PyValue =
  null | boolean | number | bigint | string | Uint8Array | PyTuple | PyValue[] | PyDict | PyObject | PyGlobal;

/** A global of the caller's table: what REDUCE (call) and NEWOBJ do with it. */
export interface PyGlobal {
  readonly kind: "global";
  readonly module: string;
  readonly name: string;
  call(args: PyValue[], where: string): PyValue;
}

export interface UnpickleOptions {
  /** Named in every error: "<file>: <record>". */
  where: string;
  /** The global module.name, or undefined when it is not allowed. */
  findGlobal(module: string, name: string): PyGlobal | undefined;
  /** The object of a persistent id (BINPERSID). */
  persistentLoad(pid: PyValue): PyValue;
}

/** Bad pickle input; the message starts with the file and record. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PickleError";
  }
}

/** More nested marks than this is not a checkpoint. */
const MAX_MARKS = 10_000;

/** Heap bytes that unpickling may use per byte of pickle, and on top of that for any pickle. */
export const BUDGET_PER_BYTE = 16;
export const BUDGET_BASE = 1024 * 1024;

/** Estimated heap bytes of what an opcode makes (V8, 64-bit, rounded up). */
const COST = {
  /** A reference on the stack, in a list, a tuple or the memo. */
  slot: 16,
  dict: 256,
  dictEntry: 32,
  list: 64,
  tuple: 48,
  /** A string's header; its characters cost 2 bytes each. */
  string: 32,
  /** A number outside the small-integer range, a bigint, a bytes object's header. */
  boxed: 32,
  /** What a global of the caller's table makes (a tensor, a storage, an OrderedDict). */
  call: 256,
};

/** Decode a pickle with the restrictions above; returns the object STOP leaves. */
export function unpickle(bytes: Uint8Array, o: UnpickleOptions): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let at = 0;
  let op = 0;
  let opAt = 0;
  const fail = (msg: string): never => {
    throw new PickleError(`${o.where}: ${msg} (opcode 0x${op.toString(16).padStart(2, "0")} at byte ${opAt})`);
  };
  const budget = BUDGET_PER_BYTE * bytes.length + BUDGET_BASE;
  let spent = 0;
  /** Charge n heap bytes against the budget. */
  const charge = (n: number): void => {
    spent += n;
    if (spent > budget)
      fail(
        `the objects it makes would take more than ${budget} bytes of memory (${BUDGET_PER_BYTE} per byte of its ${bytes.length} bytes, plus ${BUDGET_BASE}): not a checkpoint`,
      );
  };
  const need = (n: number): number => {
    if (n < 0 || at + n > bytes.length) fail(`needs ${n} bytes but ${bytes.length - at} are left (truncated?)`);
    const from = at;
    at += n;
    return from;
  };
  /** The stack above the innermost mark is all an opcode may take. */
  const floor = (): number => (marks.length > 0 ? marks[marks.length - 1] : 0);
  const pop = (): PyValue => {
    if (stack.length <= floor()) fail("stack underflow");
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length <= floor()) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail("no mark to pop");
    charge(COST.slot * (stack.length - (m as number))); // the values move to a new array
    return stack.splice(m as number);
  };
  /** Push a value made by the current opcode, charged its size. */
  const push = (v: PyValue, cost: number): void => {
    charge(COST.slot + cost);
    stack.push(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail("a GLOBAL name runs past the end");
    const s = new TextDecoder("latin1").decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const getMemo = (i: number): PyValue => {
    const v = memo.get(i);
    if (v === undefined) fail(`memo entry ${i} was never stored`);
    return v as PyValue;
  };
  const setItem = (d: PyValue, k: PyValue, v: PyValue): void => {
    if (!(d instanceof PyDict)) fail("SETITEM on something that is not a dict");
    if (typeof k !== "string" && typeof k !== "number" && typeof k !== "bigint")
      fail(`a dict key must be str or int here, got ${describe(k)}`);
    charge(COST.dictEntry);
    (d as PyDict).map.set(k as PyKey, v);
  };
  /** The cost of an int: a small one (below 2^30) lives in the reference itself. */
  const numberCost = (v: number): number => (Math.abs(v) < 2 ** 30 ? 0 : COST.boxed);

  for (;;) {
    opAt = at;
    if (at >= bytes.length) fail("the pickle ends without STOP (truncated?)");
    op = bytes[at++];
    switch (op) {
      case 0x80: {
        // PROTO
        const v = bytes[need(1)];
        if (v > 2) fail(`protocol ${v}: torch.save writes protocol 2`);
        break;
      }
      case 0x2e: {
        // STOP
        const v = pop();
        if (stack.length !== 0 || marks.length !== 0) fail("values left on the stack at STOP");
        if (at !== bytes.length) fail(`${bytes.length - at} bytes after STOP`);
        return v;
      }
      case 0x28: // MARK
        if (marks.length >= MAX_MARKS) fail(`more than ${MAX_MARKS} nested marks`);
        marks.push(stack.length);
        break;
      case 0x7d:
        push(new PyDict(false), COST.dict);
        break; // EMPTY_DICT
      case 0x5d:
        push([], COST.list);
        break; // EMPTY_LIST
      case 0x29:
        push(new PyTuple([]), COST.tuple);
        break; // EMPTY_TUPLE
      case 0x4e:
        push(null, 0);
        break; // NONE
      case 0x88:
        push(true, 0);
        break; // NEWTRUE
      case 0x89:
        push(false, 0);
        break; // NEWFALSE
      case 0x4b:
        push(bytes[need(1)], 0);
        break; // BININT1
      case 0x4d:
        push(view.getUint16(need(2), true), 0);
        break; // BININT2
      case 0x4a: {
        const v = view.getInt32(need(4), true);
        push(v, numberCost(v));
        break; // BININT
      }
      case 0x8a: {
        // LONG1: n bytes of little-endian two's complement
        const n = bytes[need(1)];
        const from = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[from + i]);
        if (n > 0 && (bytes[from + n - 1] & 0x80) !== 0) v -= 1n << BigInt(8 * n);
        const small = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);
        push(small ? Number(v) : v, COST.boxed + n);
        break;
      }
      case 0x47:
        push(view.getFloat64(need(8), false), COST.boxed);
        break; // BINFLOAT (big-endian)
      case 0x58: {
        // BINUNICODE
        const n = view.getUint32(need(4), true);
        const from = need(n);
        try {
          charge(COST.slot + COST.string + 2 * n);
          stack.push(utf8.decode(bytes.subarray(from, from + n)));
        } catch {
          fail("a string is not valid UTF-8");
        }
        break;
      }
      case 0x55: {
        // SHORT_BINSTRING (a Python 2 str: read as latin-1 text)
        const n = bytes[need(1)];
        const from = need(n);
        push(new TextDecoder("latin1").decode(bytes.subarray(from, from + n)), COST.string + 2 * n);
        break;
      }
      case 0x71:
        charge(COST.dictEntry);
        memo.set(bytes[need(1)], top());
        break; // BINPUT
      case 0x72:
        charge(COST.dictEntry);
        memo.set(view.getUint32(need(4), true), top());
        break; // LONG_BINPUT
      case 0x68:
        push(getMemo(bytes[need(1)]), 0);
        break; // BINGET
      case 0x6a:
        push(getMemo(view.getUint32(need(4), true)), 0);
        break; // LONG_BINGET
      case 0x74:
        push(new PyTuple(popMark()), COST.tuple);
        break; // TUPLE
      case 0x85:
        push(new PyTuple([pop()]), COST.tuple + COST.slot);
        break; // TUPLE1
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]), COST.tuple + 2 * COST.slot);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]), COST.tuple + 3 * COST.slot);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail("APPEND to something that is not a list");
        charge(COST.slot);
        (l as PyValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail("APPENDS to something that is not a list");
        charge(COST.slot * items.length);
        for (const v of items) (l as PyValue[]).push(v);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) fail("SETITEMS with an odd number of values");
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        const g = o.findGlobal(module, name);
        if (g === undefined)
          fail(
            `global "${module}.${name}" is not allowed: a checkpoint may refer only to tensor, storage, OrderedDict and numpy scalar types`,
          );
        push(g as PyGlobal, 0);
        break;
      }
      case 0x52:
      case 0x81: {
        // REDUCE f(*args), NEWOBJ cls.__new__(cls, *args)
        const args = pop();
        const f = pop();
        if (!(args instanceof PyTuple)) fail(`${op === 0x52 ? "REDUCE" : "NEWOBJ"} arguments are not a tuple`);
        if (!isGlobal(f)) fail(`${op === 0x52 ? "REDUCE" : "NEWOBJ"} of ${describe(f)}, not an allowed global`);
        const g = f as PyGlobal;
        push(g.call((args as PyTuple).items, `${o.where}: ${g.module}.${g.name}`), COST.call);
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict && obj.ordered) obj.attrs = state;
        else if (typeof obj === "object" && obj !== null && "build" in obj && typeof obj.build === "function")
          obj.build(state);
        else fail(`BUILD on ${describe(obj)}`);
        break;
      }
      case 0x51:
        push(o.persistentLoad(pop()), COST.call);
        break; // BINPERSID
      default:
        fail("opcode not allowed in a checkpoint (torch.load(weights_only=True) refuses it too)");
    }
  }
}

function isGlobal(v: PyValue): v is PyGlobal {
  return typeof v === "object" && v !== null && "kind" in v && v.kind === "global";
}

/** A short description of a value for error messages. */
export function describe(v: PyValue): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "a list";
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PyDict) return v.ordered ? "an OrderedDict" : "a dict";
  if (v instanceof Uint8Array) return "bytes";
  if (typeof v === "object") return isGlobal(v) ? `the global ${v.module}.${v.name}` : `a ${v.kind}`;
  if (typeof v === "string") return `the str ${JSON.stringify(v.slice(0, 40))}`;
  return `the ${typeof v} ${String(v)}`;
}

// ---------------------------------------------------------------------------------------
// Writing

/** A Python float (a JS number alone is written as an int, and must be one). */
export class OutFloat {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

/** `module.name(*args)`: a global called at load time. */
export class OutReduce {
  readonly module: string;
  readonly name: string;
  readonly args: OutValue[];
  constructor(module: string, name: string, args: OutValue[]) {
    this.module = module;
    this.name = name;
    this.args = args;
  }
}

/** A global itself (a storage type). */
export class OutGlobal {
  readonly module: string;
  readonly name: string;
  constructor(module: string, name: string) {
    this.module = module;
    this.name = name;
  }
}

/** A persistent id (a tensor's storage): the loader resolves it. */
export class OutPersistent {
  readonly pid: OutValue;
  constructor(pid: OutValue) {
    this.pid = pid;
  }
}

/** A tuple to write. */
export class OutTuple {
  readonly items: OutValue[];
  constructor(items: OutValue[]) {
    this.items = items;
  }
}

/** A dict to write, in insertion order; ordered: as a collections.OrderedDict. */
export class OutDict {
  readonly entries: [string | number, OutValue][];
  readonly ordered: boolean;
  constructor(entries: [string | number, OutValue][], ordered = false) {
    this.entries = entries;
    this.ordered = ordered;
  }
}

export type OutValue =
  null | boolean | number | string | OutFloat | OutTuple | OutValue[] | OutDict | OutReduce | OutGlobal | OutPersistent;

/** The protocol-2 pickle of a value. */
export function pickle(value: OutValue): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  const u32 = (n: number): void => {
    out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  };
  const str = (s: string): void => {
    const b = enc.encode(s);
    out.push(0x58);
    u32(b.length);
    for (const x of b) out.push(x);
  };
  const global = (module: string, name: string): void => {
    out.push(0x63);
    for (const x of enc.encode(`${module}\n${name}\n`)) out.push(x);
  };
  const int = (n: number): void => {
    if (!Number.isSafeInteger(n)) throw new PickleError(`pickle: ${n} is not an integer; wrap floats in OutFloat`);
    if (n >= 0 && n < 256) out.push(0x4b, n);
    else if (n >= 0 && n < 65536) out.push(0x4d, n & 0xff, n >>> 8);
    else if (n >= -2147483648 && n <= 2147483647) {
      out.push(0x4a);
      u32(n);
    } else {
      // LONG1: little-endian two's complement, as few bytes as keep the sign
      let v = BigInt(n);
      const b: number[] = [];
      do {
        b.push(Number(v & 0xffn));
        v >>= 8n;
      } while (!((v === 0n && (b[b.length - 1] & 0x80) === 0) || (v === -1n && (b[b.length - 1] & 0x80) !== 0)));
      out.push(0x8a, b.length, ...b);
    }
  };
  const emit = (v: OutValue): void => {
    if (v === null) out.push(0x4e);
    else if (v === true) out.push(0x88);
    else if (v === false) out.push(0x89);
    else if (typeof v === "number") int(v);
    else if (typeof v === "string") str(v);
    else if (v instanceof OutFloat) {
      const b = new DataView(new ArrayBuffer(8));
      b.setFloat64(0, v.value, false);
      out.push(0x47, ...new Uint8Array(b.buffer));
    } else if (v instanceof OutTuple) {
      if (v.items.length === 0) out.push(0x29);
      else if (v.items.length <= 3) {
        v.items.forEach(emit);
        out.push(0x84 + v.items.length); // TUPLE1..TUPLE3
      } else {
        out.push(0x28);
        v.items.forEach(emit);
        out.push(0x74);
      }
    } else if (Array.isArray(v)) {
      out.push(0x5d);
      if (v.length > 0) {
        out.push(0x28);
        v.forEach(emit);
        out.push(0x65);
      }
    } else if (v instanceof OutDict) {
      if (v.ordered) {
        global("collections", "OrderedDict");
        out.push(0x29, 0x52);
      } else out.push(0x7d);
      if (v.entries.length > 0) {
        out.push(0x28);
        for (const [k, x] of v.entries) {
          emit(k);
          emit(x);
        }
        out.push(0x75);
      }
    } else if (v instanceof OutReduce) {
      global(v.module, v.name);
      emit(new OutTuple(v.args));
      out.push(0x52);
    } else if (v instanceof OutGlobal) global(v.module, v.name);
    else {
      emit(v.pid);
      out.push(0x51);
    }
  };
  out.push(0x80, 2);
  emit(value);
  out.push(0x2e);
  return Uint8Array.from(out);
}
