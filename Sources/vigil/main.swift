#if canImport(Glibc)
import Glibc
#endif

// `vigil run` and `vigil record` block SIGINT and SIGTERM in every thread, from the first instruction, so that
// every thread created later inherits the mask. Dispatch's signal sources on Linux read signals through a
// signalfd, which sees only signals that are blocked; a thread that does not block them may be handed the
// signal by the kernel and take its disposition there (the default ends the process; SIG_IGN discards it, so no
// SIG_IGN either). Blocked signals stay pending until the signalfd reads them, even one sent during start-up.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
// Only the commands that serve these signals through dispatch sources block them; the others keep the
// default action (Ctrl-C ends a replay). Without the block, a SIGTERM the kernel hands to any other thread
// takes the default action: `vigil run` died with status 15 instead of stopping cleanly (seen in ClusterTests).
let arguments = Array(CommandLine.arguments.dropFirst())
if ["run", "record"].contains(arguments.first ?? "") {
    pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
}
exit(VigilCommand.run(arguments))
