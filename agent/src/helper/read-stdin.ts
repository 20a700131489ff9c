// Reads the request from stdin: at most MAX_REQUEST_BYTES, then end of file, within a deadline.
import { MAX_REQUEST_BYTES } from "./wire";
import { HelperRefusal } from "./exit-codes";

export function readRequestText(stream: NodeJS.ReadableStream, timeoutMs = 10_000, max = MAX_REQUEST_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | null) => {
      clearTimeout(timer);
      stream.removeListener("data", onData);
      stream.removeListener("end", onEnd);
      stream.removeListener("error", onError);
      if (err) {
        stream.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onData = (chunk: Buffer | string) => {
      const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += b.length;
      if (size > max) done(new HelperRefusal("BAD_REQUEST", `the request on stdin is larger than ${max} bytes`));
      else chunks.push(b);
    };
    const onEnd = () => done(null);
    const onError = (err: Error) => done(new HelperRefusal("BAD_REQUEST", `cannot read stdin: ${err.message}`));
    const timer = setTimeout(() => done(new HelperRefusal("BAD_REQUEST", `no complete request on stdin within ${timeoutMs} ms`)), timeoutMs);
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
  });
}
