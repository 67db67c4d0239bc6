import Dispatch
import Foundation
import VigilIO

extension Service {
    /// A graceful stop gets `shutdown_timeout_s`; past it Vigil exits with status 1 (a hung broker or disk must
    /// not keep a stopping service alive until its supervisor's SIGKILL).
    func armShutdownDeadline() {
        let seconds = config.shutdownTimeoutSeconds
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) { [logger] in
            logger.error("graceful stop took longer than shutdown_timeout_s; exiting now", [("timeout_s", String(seconds))])
            exit(1)
        }
    }
}
