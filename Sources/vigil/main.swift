#if canImport(Glibc)
import Glibc
#endif

// SIGINT and SIGTERM are blocked in every thread, from the first instruction, so that every thread created
// later inherits the mask. Dispatch's signal sources on Linux read signals through a signalfd, which sees only
// signals that are blocked; with a thread that does not block them, the kernel may hand the signal to that
// thread, where the SIG_IGN disposition the commands set discards it: an intermittently lost SIGTERM.
// (Blocked signals are never discarded, whatever their disposition.) Children spawned later reset the mask.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
// Only the commands that serve these signals through dispatch sources keep them blocked; the others get the
// default action (Ctrl-C ends a replay) back before they start anything.
let arguments = Array(CommandLine.arguments.dropFirst())
if !["run", "record"].contains(arguments.first ?? "") {
    pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
}
exit(VigilCommand.run(arguments))
