// Entry point of the operator agent bundle: not written yet.
process.stderr.write("hostward-operator: not implemented yet\n");
process.exitCode = 1;
