package import Foundation

/// A real mosquitto on a free loopback port, for one test; stopped (and its folder removed) by ``stop()``.
///
/// Fails loudly when mosquitto is not installed: `make test` installs it, and a skipped broker test would
/// hide exactly the failures these tests exist for.
package final class Broker: @unchecked Sendable {
    // @unchecked: `process` is set once in init; the child it wraps is signalled and reaped once.
    package let port: Int
    package let directory: URL
    private let process: SpawnedProcess
    /// Whether ``stop()`` removes ``directory`` (not when the caller gave it: a restart reuses it).
    private let ownsDirectory: Bool

    package struct StartError: Error, CustomStringConvertible {
        package var description: String
    }

    /// Starts mosquitto with `extraConfig` lines appended to a loopback listener on a free port, and returns
    /// once it accepts connections (or throws after `timeout` seconds, with its log).
    /// - Parameters:
    ///   - port: a given port (to restart a broker where clients expect it), or nil for a free one.
    ///   - directory: a folder to keep its log and persistence file in, kept at ``stop()`` (a restarted broker
    ///     finds its sessions there); nil: a fresh folder, removed at ``stop()``.
    ///   - persistence: whether mosquitto saves sessions and queued messages to `directory` (on a clean stop,
    ///     after every change when `autosaveEveryChange`, else every `autosaveSeconds`).
    ///   - extraConfig: lines after the loopback listener's; per-listener ones (`cafile`, `certfile`,
    ///     `require_certificate`) apply to it, which makes it a TLS listener.
    package init(
        port requestedPort: Int? = nil, directory given: URL? = nil, persistence: Bool = false,
        autosaveEveryChange: Bool = false, autosaveSeconds: Int = 1800, extraConfig: [String] = [], timeout: Double = 10
    ) throws {
        let executable = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else {
            throw StartError(description: "mosquitto is not installed (run `make test`, which installs it)")
        }
        ownsDirectory = given == nil
        directory = given ?? FileManager.default.temporaryDirectory.appendingPathComponent("vigil-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try requestedPort ?? FreePort.find()
        self.port = port
        let config = [
            "listener \(port) 127.0.0.1",
            "allow_anonymous true",
            "persistence \(persistence)",
            "persistence_location \(directory.path)/",
            "autosave_on_changes \(autosaveEveryChange)",
            "autosave_interval \(autosaveEveryChange ? 1 : autosaveSeconds)",
            // A slow test subscriber must not lose QoS 0 messages to the default queue limit of 1000.
            "max_queued_messages 100000",
            "log_dest file \(directory.path)/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
            // As root, mosquitto would drop to the `mosquitto` user, which cannot write the log in our folder.
            "user root",
        ] + extraConfig
        let configURL = directory.appendingPathComponent("mosquitto.conf")
        try (config.joined(separator: "\n") + "\n").write(to: configURL, atomically: true, encoding: .utf8)
        process = try SpawnedProcess(executable: executable, arguments: ["-c", configURL.path])
        let deadline = Date().addingTimeInterval(timeout)
        while !FreePort.accepts(port: port) {
            guard process.isRunning, Date() < deadline else {
                let log = (try? String(contentsOf: directory.appendingPathComponent("mosquitto.log"), encoding: .utf8)) ?? ""
                stop()
                throw StartError(description: "mosquitto did not start on port \(port): \(log)")
            }
            usleep(10_000)
        }
    }

    deinit { stop() }

    /// Stops the broker (SIGTERM, then waits) and removes its folder. Idempotent.
    package func stop() {
        process.stop(signal: SIGTERM)
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    /// mosquitto's persistence file (sessions and queued messages), once it has written one.
    package var persistenceFile: URL { directory.appendingPathComponent("mosquitto.db") }

    /// Kills the broker abruptly (SIGKILL), to test reconnects.
    package func kill() {
        process.stop(signal: SIGKILL)
    }
}

/// Loopback port helpers.
package enum FreePort {
    /// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it back, close).
    package static func find() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Broker.StartError(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw Broker.StartError(description: "could not bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    package static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// A child started with `posix_spawn` and a clean signal state.
///
/// Foundation's `Process` passes on the parent's signal mask, and the test runner blocks SIGTERM and SIGINT:
/// a mosquitto started that way never sees the SIGTERM that should stop it. Here the child gets an empty mask
/// and default handlers.
final class SpawnedProcess: @unchecked Sendable {
    // @unchecked: `pid` is set in init; `reaped` is only touched under `lock`.
    private let pid: pid_t
    private let lock = NSLock()
    private var reaped = false

    init(executable: String, arguments: [String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw Broker.StartError(description: "posix_spawn \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit { stop(signal: SIGKILL) }

    var isRunning: Bool {
        lock.withLock {
            if !reaped && waitpid(pid, nil, WNOHANG) == pid { reaped = true }
            return !reaped
        }
    }

    /// Sends `signal` and reaps the child (idempotent).
    func stop(signal: Int32) {
        lock.withLock {
            guard !reaped else { return }
            kill(pid, signal)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            reaped = true
        }
    }
}
