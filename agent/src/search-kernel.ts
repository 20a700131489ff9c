// The byte work of a literal search (agent/src/search.ts): finding the needle, counting newlines
// and folding ASCII case, done by a small WebAssembly SIMD module (agent/src/search-kernel.wat,
// 16 bytes per compare) on bytes that sit in that module's memory. readChunks reads the file
// straight into that memory (readBuffers), so a chunk is never copied; chunks from anywhere else
// are copied into a private memory first. Without WebAssembly (node --jitless) the same
// operations run on Buffer.indexOf and a JavaScript loop, with the same results.
//
// Memory: one WebAssembly memory per running search, never shared between running searches:
// 64 KiB for the needle, the read buffers and one folded copy of a chunk (touched only for
// ignoreCase). One memory of a finished search is kept for the next one (so repeated searches do
// not leave a few MiB each for the garbage collector), no more.
import { SEARCH_KERNEL_WASM_BASE64 } from "./search-kernel.wasm";

// The WebAssembly global as used here (Node's type definitions do not declare it); undefined
// under node --jitless.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly __wasmModule?: never;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (mod: WasmModule, imports: object) => { readonly exports: unknown };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

interface KernelExports {
  memory: WasmMemory;
  count_nl(p: number, len: number): number;
  find(p: number, len: number, needle: number, needleLength: number): number;
  nl_before: { value: number };
  fold_ascii(src: number, dst: number, len: number): void;
}

const PAGE = 64 * 1024;
/** The needle lives at offset 0 of a kernel's memory; regions start after this header. */
const HEADER = PAGE;
const NEWLINE = 0x0a;

let compiled: WasmModule | null | undefined;

/** The compiled kernel, or null when this runtime has no WebAssembly (or no SIMD). */
function kernelModule(): WasmModule | null {
  if (compiled === undefined) {
    try {
      compiled = wasmApi === undefined ? null : new wasmApi.Module(Buffer.from(SEARCH_KERNEL_WASM_BASE64, "base64"));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

let wasmDisabled = false;

/** Whether searches use the WebAssembly kernel (false only without WebAssembly SIMD, or in tests). */
export function wasmKernelInUse(): boolean {
  return !wasmDisabled && kernelModule() !== null;
}

/** Tests only: run the plain JavaScript operations instead of the WebAssembly kernel. */
export function setWasmKernelEnabled(enabled: boolean): void {
  wasmDisabled = !enabled;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** One instance of the kernel and its memory: the header, then `regions` regions of `regionBytes`. */
class Kernel {
  private readonly ex: KernelExports;
  private view: Buffer;
  regionBytes: number;

  constructor(
    mod: WasmModule,
    regionBytes: number,
    readonly regions: number,
  ) {
    this.ex = new wasmApi!.Instance(mod, {}).exports as unknown as KernelExports;
    this.regionBytes = 0;
    this.view = Buffer.alloc(0);
    this.resize(regionBytes);
  }

  get buffer(): ArrayBuffer {
    return this.ex.memory.buffer;
  }

  /** Grows the regions to `regionBytes`. Detaches every view of the old memory. */
  resize(regionBytes: number): void {
    const size = roundUp(regionBytes, 64);
    const need = HEADER + size * this.regions;
    const have = this.ex.memory.buffer.byteLength;
    if (need > have) this.ex.memory.grow(Math.ceil((need - have) / PAGE));
    this.regionBytes = size;
    this.view = Buffer.from(this.ex.memory.buffer);
  }

  region(i: number, bytes = this.regionBytes): Buffer {
    const at = HEADER + i * this.regionBytes;
    return this.view.subarray(at, at + bytes);
  }

  setNeedle(needle: Buffer): void {
    needle.copy(this.view, 0);
  }

  /**
   * Offset of the first needle (set by setNeedle) in hay[from..], or -1; newlinesBefore() then
   * says how many newlines hay[from, that offset) holds (hay[from..] when -1).
   */
  find(hay: Buffer, from: number, needleLength: number): number {
    const at = this.ex.find(this.offsetOf(hay) + from, Math.max(hay.length - from, 0), 0, needleLength);
    return at < 0 ? -1 : at + from;
  }

  newlinesBefore(): number {
    return this.ex.nl_before.value;
  }

  countNewlines(buf: Buffer, from: number, to: number): number {
    return to <= from ? 0 : this.ex.count_nl(this.offsetOf(buf) + from, to - from);
  }

  foldAscii(src: Buffer, dst: Buffer): void {
    if (dst.length < src.length) throw new Error("search kernel: fold target too small");
    this.ex.fold_ascii(this.offsetOf(src), this.offsetOf(dst), src.length);
  }

  /** Where `buf` starts in this kernel's memory; a view of any other memory is a bug. */
  private offsetOf(buf: Buffer): number {
    if (buf.buffer !== this.ex.memory.buffer) throw new Error("search kernel: a buffer outside its memory");
    return buf.byteOffset;
  }
}

/** Kernels whose memory holds read buffers handed out by readBuffers, by that memory. */
const readKernels = new WeakMap<ArrayBufferLike, Kernel>();
/** A kernel whose read buffers were released, kept for the next readBuffers of the same shape. */
let idleKernel: Kernel | null = null;

export interface ReadBuffers {
  buffers: Buffer[];
  /** The caller holds no view of the buffers any more: they may serve another read. */
  release(): void;
}

/**
 * `count` buffers of `bytes` for reading a file into, inside a kernel's memory when WebAssembly is
 * there (a LiteralScan then searches them in place). That memory also holds a needle and one
 * folded chunk: count × bytes + bytes + 64 KiB in all, of which the folded part is touched only
 * by a case-insensitive search.
 */
export function readBuffers(bytes: number, count: number): ReadBuffers {
  const mod = wasmDisabled ? null : kernelModule();
  if (mod === null) return { buffers: Array.from({ length: count }, () => Buffer.alloc(bytes)), release: () => undefined };
  let k = idleKernel;
  if (k !== null && k.regions === count + 1 && k.regionBytes === roundUp(bytes, 64)) {
    idleKernel = null;
  } else {
    k = new Kernel(mod, bytes, count + 1);
    readKernels.set(k.buffer, k);
  }
  const kernel = k;
  let released = false;
  return {
    buffers: Array.from({ length: count }, (_, i) => kernel.region(i, bytes)),
    release: () => {
      if (released) return;
      released = true;
      idleKernel = kernel;
    },
  };
}

export interface PreparedChunk {
  /** The chunk's bytes as read. */
  chunk: Buffer;
  /** What the needle is searched in: `chunk`, or its ASCII-folded copy. */
  hay: Buffer;
}

/**
 * The byte operations of one literal search. prepare() takes each chunk in turn; the views it
 * returns and the offsets given to find/countNewlines are valid until the next prepare().
 */
export class LiteralScan {
  private kernel: Kernel | null = null;
  private own: Kernel | null = null;
  private jsFold = Buffer.alloc(0);
  // What the last find() counted on the way: `nl` newlines in [countFrom, countTo) of this chunk.
  private countFrom = -1;
  private countTo = -1;
  private nl = 0;
  private readonly useWasm: boolean;

  constructor(
    private readonly needle: Buffer,
    private readonly foldAscii: boolean,
  ) {
    // The needle must fit the header; compilePattern caps patterns far below 64 KiB.
    this.useWasm = !wasmDisabled && kernelModule() !== null && needle.length > 0 && needle.length <= HEADER;
  }

  prepare(raw: Buffer): PreparedChunk {
    if (!this.useWasm) {
      if (!this.foldAscii) return { chunk: raw, hay: raw };
      if (this.jsFold.length < raw.length) this.jsFold = Buffer.alloc(raw.length);
      return { chunk: raw, hay: foldAsciiJs(raw, this.jsFold) };
    }
    let k = readKernels.get(raw.buffer);
    let chunk = raw;
    const foldRegion = (kk: Kernel) => kk.regions - 1;
    if (k === undefined || (this.foldAscii && raw.length > k.regionBytes)) {
      // Not in a kernel's memory (or too big to fold there): copy it into our own.
      this.own ??= new Kernel(kernelModule()!, raw.length, 2);
      if (raw.length > this.own.regionBytes) this.own.resize(raw.length);
      k = this.own;
      chunk = k.region(0, raw.length);
      raw.copy(chunk);
    }
    this.kernel = k;
    this.countFrom = -1;
    k.setNeedle(this.needle);
    if (!this.foldAscii) return { chunk, hay: chunk };
    const hay = k.region(foldRegion(k), chunk.length);
    k.foldAscii(chunk, hay);
    return { chunk, hay };
  }

  /** hay.indexOf(needle, from) for the `hay` of the last prepare(). */
  find(hay: Buffer, from: number): number {
    if (this.kernel === null) return hay.indexOf(this.needle, from);
    const at = this.kernel.find(hay, from, this.needle.length);
    // The kernel counted the newlines up to the hit in the same pass (hay and chunk have their
    // newlines at the same places: folding changes only A-Z).
    this.countFrom = from;
    this.countTo = at === -1 ? Math.max(hay.length, from) : at;
    this.nl = this.kernel.newlinesBefore();
    return at;
  }

  /** Newlines in chunk[from, to) for the `chunk` of the last prepare(). */
  countNewlines(chunk: Buffer, from: number, to: number): number {
    if (this.kernel === null) return countNewlinesJs(chunk, from, to);
    if (to <= from) return 0;
    // Typically [from, to) is what the last find() passed over, minus the few lines before its
    // hit (or the chunk's unfinished last line): only that short rest is counted again.
    if (from === this.countFrom && to <= this.countTo) return this.nl - this.kernel.countNewlines(chunk, to, this.countTo);
    return this.kernel.countNewlines(chunk, from, to);
  }
}

/** Reference implementations (also the path without WebAssembly). */
export function countNewlinesJs(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = buf.indexOf(NEWLINE, from); i !== -1 && i < to; i = buf.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

export function foldAsciiJs(src: Uint8Array, dst: Buffer): Buffer {
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    dst[i] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  return dst.subarray(0, src.length);
}
