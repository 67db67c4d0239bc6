#if canImport(Glibc)
import Glibc
#endif

exit(VigilCommand.run(Array(CommandLine.arguments.dropFirst())))
