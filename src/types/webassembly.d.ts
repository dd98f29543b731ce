// The WebAssembly JS API that Node 20 provides but @types/node does not declare (TypeScript
// declares it only in lib.dom / lib.webworker, which would bring every browser global in).
// Only what dlrm-ts uses: compiling and instantiating a module synchronously, and memories.

declare namespace WebAssembly {
  interface MemoryDescriptor {
    /** Pages (64 KiB) at creation. */
    initial: number;
    /** Page limit; required for a shared memory (at most 65536 = 4 GiB). */
    maximum?: number;
    shared?: boolean;
  }

  interface Memory {
    /** A SharedArrayBuffer for a shared memory; after grow() a new, longer one. */
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    /** Adds delta pages; returns the previous size in pages; throws RangeError past maximum. */
    grow(delta: number): number;
  }
  var Memory: {
    prototype: Memory;
    new (descriptor: MemoryDescriptor): Memory;
  };

  interface Module {}
  var Module: {
    prototype: Module;
    /** Compiles synchronously (fine for small modules; no top-level await needed). */
    new (bytes: ArrayBufferView<ArrayBuffer> | ArrayBuffer): Module;
  };

  type ImportValue = Memory | ((...args: never[]) => unknown) | number;
  type Imports = Record<string, Record<string, ImportValue>>;

  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  var Instance: {
    prototype: Instance;
    new (module: Module, importObject?: Imports): Instance;
  };

  interface CompileError extends Error {}
  var CompileError: { prototype: CompileError; new (message?: string): CompileError };
  interface LinkError extends Error {}
  var LinkError: { prototype: LinkError; new (message?: string): LinkError };
  interface RuntimeError extends Error {}
  var RuntimeError: { prototype: RuntimeError; new (message?: string): RuntimeError };
}
