#if canImport(Glibc)
import Glibc
#endif

// `vigil run` and `vigil record` block SIGINT and SIGTERM in every thread, from the first instruction, so that
// every thread created later inherits the mask and no thread can take the default action (ending the process
// without a clean stop). `run` takes them with `sigwait` on its main thread; `record` with dispatch signal
// sources (a signalfd, which sees only blocked signals). A signal sent during start-up stays pending until then.
// No SIG_IGN: it would discard a pending one.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
// The other commands keep the default action (Ctrl-C ends a replay).
let arguments = Array(CommandLine.arguments.dropFirst())
if ["run", "record"].contains(arguments.first ?? "") {
    pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
}
exit(VigilCommand.run(arguments))
