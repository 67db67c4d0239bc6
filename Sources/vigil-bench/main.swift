import Foundation

// vigil-bench: the benchmarks behind `make bench` (see docs/benchmarks.md).
exit(BenchCommand.run(Array(CommandLine.arguments.dropFirst())))
