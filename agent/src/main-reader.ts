// Entry point of the reader agent bundle: not written yet.
process.stderr.write("hostward-reader: not implemented yet\n");
process.exitCode = 1;
